"""HFAudioClassifier: tiny Wav2Vec2, HuBERT and AST explained over a waveform's samples."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from glas_adapters.hf import HFAudioClassifier  # noqa: E402
from glas_core import GLASError  # noqa: E402

RATE, LENGTH, BURST = 16000, 4000, (2500, 3000)
TINY = dict(hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32, num_labels=4)
CONV = dict(conv_dim=(8, 8, 8), conv_kernel=(10, 3, 3), conv_stride=(5, 2, 2), num_conv_pos_embeddings=8,
            num_conv_pos_embedding_groups=2, classifier_proj_size=8)


def _wav2vec2():
    return (transformers.Wav2Vec2ForSequenceClassification(transformers.Wav2Vec2Config(**CONV, **TINY)),
            transformers.Wav2Vec2FeatureExtractor(sampling_rate=RATE, do_normalize=True))


def _hubert():
    return (transformers.HubertForSequenceClassification(transformers.HubertConfig(**CONV, **TINY)),
            transformers.Wav2Vec2FeatureExtractor(sampling_rate=RATE, do_normalize=False))


def _ast():
    config = transformers.ASTConfig(num_mel_bins=16, max_length=32, patch_size=8, frequency_stride=8, time_stride=8,
                                    **TINY)
    return (transformers.ASTForAudioClassification(config),
            transformers.ASTFeatureExtractor(num_mel_bins=16, max_length=32, sampling_rate=RATE))


BUILDERS = {"wav2vec2": _wav2vec2, "hubert": _hubert, "ast": _ast}


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def audio_models():
    built = {}
    for seed, (name, build) in enumerate(BUILDERS.items()):
        torch.manual_seed(seed)
        model, extractor = build()
        built[name] = (model.eval(), extractor)
    return built


@pytest.fixture(scope="module")
def burst():
    """Silence with a 440 Hz tone in samples 2500-2999."""
    wave = np.zeros(LENGTH, np.float32)
    t = np.arange(*BURST) / RATE
    wave[BURST[0]:BURST[1]] = 0.5 * np.sin(2 * np.pi * 440 * t)
    return wave


def _zero_mean_unit_variance(x):
    """Wav2Vec2's per-waveform normalisation, by hand."""
    x = np.asarray(x, dtype=np.float64)
    return (x - x.mean()) / np.sqrt(x.var() + 1e-7)


@pytest.mark.parametrize("name", list(BUILDERS))
def test_the_inputs_are_the_feature_extractors_on_every_waveform(audio_models, name):
    model, extractor = audio_models[name]
    clf = HFAudioClassifier(model, extractor)
    wave = np.random.default_rng(0).standard_normal(LENGTH).astype(np.float32) * 0.1
    theirs = extractor(wave, sampling_rate=RATE, return_tensors="pt")
    ours = clf.model_inputs(wave[None])
    assert set(ours) == set(theirs.keys())
    for key in ours:
        torch.testing.assert_close(ours[key], theirs[key], atol=1e-5, rtol=1e-5)
    with torch.no_grad():
        torch.testing.assert_close(clf.logits(wave[None]), model(**theirs).logits, atol=1e-5, rtol=1e-5)


def test_the_normalisation_is_rerun_on_each_masked_waveform(audio_models):
    model, extractor = audio_models["wav2vec2"]
    clf = HFAudioClassifier(model, extractor)
    wave = np.random.default_rng(1).standard_normal(LENGTH).astype(np.float32) * 0.1
    window = np.exp(-0.5 * ((np.arange(LENGTH) - 1000) / 300.0) ** 2).astype(np.float32)
    rows = clf.model_inputs(np.stack([wave, wave * window]))["input_values"].numpy()
    np.testing.assert_allclose(rows[0], _zero_mean_unit_variance(wave), atol=1e-4)
    np.testing.assert_allclose(rows[1], _zero_mean_unit_variance(wave * window), atol=1e-4)
    assert np.abs(rows[1] - _zero_mean_unit_variance(wave) * window).max() > 0.5  # not the clean features masked


def test_one_sweep_gives_one_map_per_target_over_the_samples(audio_models, burst):
    model, extractor = audio_models["ast"]
    clf = HFAudioClassifier(model, extractor)
    rows = []
    original = clf.logits

    def counting(waveforms):
        rows.append(len(waveforms))
        return original(waveforms)

    clf.logits = counting
    exp = clf.explain(burst, targets=[0, 2, 3], sampling_rate=RATE, grid=20, batch_size=100)
    assert exp.maps.shape == (3, LENGTH) and exp.targets == [0, 2, 3]
    assert sum(rows) == 1 + (2 * 20 + 1)  # the clean pass for the probabilities, then one sweep for all targets
    with torch.no_grad():
        logits = model(**extractor(burst, sampling_rate=RATE, return_tensors="pt")).logits[0].double()
    np.testing.assert_allclose(exp.probs, torch.softmax(logits, -1).numpy()[[0, 2, 3]], rtol=1e-5)
    assert not np.allclose(exp.maps[0], exp.maps[1])


@pytest.mark.parametrize("name", list(BUILDERS))
def test_the_map_peaks_on_the_only_sound(audio_models, burst, name):
    """Silence but for one tone: for the class the tone raises most, the map's peak lies on the tone (within
    one grid cell, 100 samples) and the map is higher over the tone than over the first half-second of silence."""
    model, extractor = audio_models[name]
    clf = HFAudioClassifier(model, extractor)
    with torch.no_grad():
        gain = (torch.log_softmax(clf.logits(burst[None]), -1)
                - torch.log_softmax(clf.logits(np.zeros((1, LENGTH), np.float32)), -1))[0]
    target = int(gain.argmax())
    exp = clf.explain(burst, targets=target, sampling_rate=RATE, grid=40, sigma=1.0)
    peak = int(exp.maps[0].argmax())
    assert BURST[0] - 100 <= peak < BURST[1] + 100, peak
    assert exp.maps[0, BURST[0]:BURST[1]].mean() > 2 * exp.maps[0, :2000].mean()


def test_refusals(audio_models, burst):
    model, extractor = audio_models["wav2vec2"]
    clf = HFAudioClassifier(model, extractor)
    with pytest.raises(GLASError, match=r"sampling_rate must be the feature extractor's 16000 Hz, got 8000 Hz; "
                                        r"resample it first, e\.g\. scipy\.signal\.resample_poly\(waveform, 2, 1\)"):
        clf.explain(burst, sampling_rate=8000)
    with pytest.raises(GLASError, match=r"resample_poly\(waveform, 160, 441\)"):
        clf.explain(burst, sampling_rate=44100)
    with pytest.raises(GLASError, match=r"sampling_rate must be the waveform's sampling rate"):
        clf.explain(burst, sampling_rate=16000.0)
    with pytest.raises(GLASError, match=r"one mono waveform of shape \(samples,\).*waveform\.mean\(axis=0\)"):
        clf.explain(np.stack([burst, burst]), sampling_rate=RATE)
    with pytest.raises(GLASError, match=r"float samples.*waveform / 32768\.0"):
        clf.explain((burst * 32767).astype(np.int16), sampling_rate=RATE)
    with pytest.raises(GLASError, match=r"samples with NaN or inf"):
        clf.explain(np.full(LENGTH, np.nan, np.float32), sampling_rate=RATE)
    with pytest.raises(GLASError, match=r"waveform must be a waveform the model and its feature extractor take, "
                                        r"got 8 samples the model cannot take"):
        clf.explain(burst[:8], sampling_rate=RATE)
    with pytest.raises(GLASError, match=r"feature_extractor must be a HuggingFace audio feature extractor"):
        HFAudioClassifier(model, object())


def test_the_waveform_and_the_model_are_left_as_they_were(audio_models, burst):
    model, extractor = audio_models["hubert"]
    before = burst.copy()
    model.train()
    try:
        with pytest.warns(UserWarning, match="train mode"):
            HFAudioClassifier(model, extractor).explain(burst, targets=1, sampling_rate=RATE, grid=5)
        assert model.training
    finally:
        model.eval()
    np.testing.assert_array_equal(burst, before)


def test_plot_draws_the_waveform_over_seconds_and_the_map_band(audio_models, burst):
    pytest.importorskip("matplotlib")
    model, extractor = audio_models["ast"]
    exp = HFAudioClassifier(model, extractor).explain(burst, targets=[1, 2], sampling_rate=RATE, grid=10)
    fig = exp.plot(1)
    wave_ax, band = fig.axes
    np.testing.assert_allclose(wave_ax.get_lines()[0].get_xdata(), np.arange(LENGTH) / RATE)
    m = exp.maps[1]
    np.testing.assert_allclose(band.images[0].get_array()[0], (m - m.min()) / (m.max() - m.min()))
    assert band.get_xlabel() == "seconds"
