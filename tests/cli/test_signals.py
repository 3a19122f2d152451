"""``glas explain`` on signals: .wav/.flac audio with a HuggingFace audio classifier, .npy clips with a video one.

Tiny models are built from configs and saved with ``save_pretrained`` (nothing downloaded). The
command's maps are compared with the adapter called directly on the decoded samples, which checks
reading, loading, targets and the file layout, not the adapter's math (tests/adapters/hf does that).
"""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
pd = pytest.importorskip("pandas")

from .helpers import assert_one_line_error, files_under, run_glas  # noqa: E402

RATE, LENGTH = 16000, 4000


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def audio_dir(tmp_path_factory):
    """A tiny AST audio classifier and its feature extractor, saved."""
    config = transformers.ASTConfig(hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32,
                                    num_mel_bins=16, max_length=32, patch_size=8, frequency_stride=8, time_stride=8,
                                    num_labels=4, id2label={0: "dog", 1: "siren", 2: "speech", 3: "rain"},
                                    label2id={"dog": 0, "siren": 1, "speech": 2, "rain": 3})
    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("ast")
    transformers.ASTForAudioClassification(config).eval().save_pretrained(folder)
    transformers.ASTFeatureExtractor(num_mel_bins=16, max_length=32, sampling_rate=RATE).save_pretrained(folder)
    return str(folder)


@pytest.fixture(scope="module")
def video_dir(tmp_path_factory):
    config = transformers.VideoMAEConfig(image_size=32, patch_size=8, num_frames=4, tubelet_size=2, hidden_size=16,
                                         num_hidden_layers=1, num_attention_heads=2, intermediate_size=32,
                                         num_labels=3)
    torch.manual_seed(1)
    folder = tmp_path_factory.mktemp("videomae")
    transformers.VideoMAEForVideoClassification(config).eval().save_pretrained(folder)
    transformers.VideoMAEImageProcessor(size={"shortest_edge": 32},
                                        crop_size={"height": 32, "width": 32}).save_pretrained(folder)
    return str(folder)


def _burst(rate=RATE):
    wave = np.zeros(LENGTH, np.float32)
    t = np.arange(2500, 3000) / rate
    wave[2500:3000] = 0.5 * np.sin(2 * np.pi * 440 * t)
    return wave


def test_a_wav_file_gets_one_map_per_class_over_its_samples(tmp_path, capsys, audio_dir):
    soundfile = pytest.importorskip("soundfile")
    from glas_adapters.hf import HFAudioClassifier

    sounds = tmp_path / "sounds"
    sounds.mkdir()
    soundfile.write(sounds / "burst.wav", _burst(), RATE, subtype="PCM_16")
    out, maps = tmp_path / "out", tmp_path / "maps.npz"
    run = run_glas(capsys, "explain", str(sounds), "--model", audio_dir, "--grid", "10", "--top-k", "2",
                   "--out", str(out), "--save-maps", str(maps), "--figures", "--quiet", "--device", "cpu")
    assert run.code == 0, run.err
    decoded, rate = soundfile.read(sounds / "burst.wav", dtype="float32")
    model = transformers.ASTForAudioClassification.from_pretrained(audio_dir).eval()
    clf = HFAudioClassifier(model, transformers.ASTFeatureExtractor.from_pretrained(audio_dir))
    probs = clf.probabilities(decoded, rate)
    top2 = [int(i) for i in np.argsort(-probs, kind="stable")[:2]]
    direct = clf.explain(decoded, top2, sampling_rate=rate, grid=10, batch_size=32)
    manifest = pd.read_parquet(out / "manifest.parquet")
    assert list(manifest["target"]) == top2
    assert list(manifest["class_name"]) == [["dog", "siren", "speech", "rain"][t] for t in top2]
    assert list(manifest["height"]) == [1, 1] and list(manifest["width"]) == [LENGTH, LENGTH]
    np.testing.assert_allclose(manifest["clean_score"], probs[top2], rtol=1e-5)
    stored = np.load(out / manifest["map_file"][0])
    for key, expected in zip(manifest["map_key"], direct.maps):
        np.testing.assert_allclose(stored[key].astype(np.float64), expected / np.abs(expected).max(), atol=2e-3)
    saved = np.load(maps)
    np.testing.assert_allclose(saved["saliency_0"], direct.maps, rtol=1e-4, atol=1e-9)
    figures = [f for f in files_under(str(out)) if f.startswith("figures/")]
    assert len(figures) == 2 and all(f.endswith(".png") for f in figures)


def test_flac_and_wav_decode_alike_and_scipy_reads_wav_without_soundfile(tmp_path, monkeypatch):
    soundfile = pytest.importorskip("soundfile")
    pytest.importorskip("scipy")
    from glas_adapters.jobs.signals import read_signal

    pcm = np.round(_burst() * 32767).astype(np.int16)  # integers: both encoders store them exactly
    wave = pcm / 32768.0
    soundfile.write(tmp_path / "a.wav", pcm, RATE, subtype="PCM_16")
    soundfile.write(tmp_path / "a.flac", pcm, RATE, subtype="PCM_16")
    soundfile.write(tmp_path / "stereo.wav", np.stack([pcm, -pcm], axis=1), RATE, subtype="PCM_16")
    from_wav, rate = read_signal(str(tmp_path / "a.wav"))
    from_flac, flac_rate = read_signal(str(tmp_path / "a.flac"))
    assert rate == flac_rate == RATE and from_wav.shape == (LENGTH,)
    np.testing.assert_array_equal(from_wav, from_flac)
    np.testing.assert_allclose(from_wav, wave, atol=1e-7)  # 16-bit PCM scaled by 1 / 32768
    stereo, _ = read_signal(str(tmp_path / "stereo.wav"))
    assert stereo.shape == (2, LENGTH) and np.allclose(stereo[0], -stereo[1])
    monkeypatch.setitem(__import__("sys").modules, "soundfile", None)  # as if it were not installed
    by_scipy, scipy_rate = read_signal(str(tmp_path / "a.wav"))
    assert scipy_rate == RATE
    np.testing.assert_array_equal(by_scipy, from_wav)  # both scale 16-bit PCM by 1 / 32768
    from glas_core import GLASError

    with pytest.raises(GLASError, match=r"soundfile installed.*pip install soundfile"):
        read_signal(str(tmp_path / "a.flac"))


def test_audio_refusals(tmp_path, capsys, audio_dir):
    soundfile = pytest.importorskip("soundfile")
    soundfile.write(tmp_path / "slow.wav", _burst(8000), 8000, subtype="PCM_16")
    run = run_glas(capsys, "explain", str(tmp_path / "slow.wav"), "--model", audio_dir, "--grid", "4",
                   "--out", str(tmp_path / "out1"), "--quiet", "--device", "cpu")
    assert_one_line_error(run, "slow.wav", "sampling_rate must be the feature extractor's 16000 Hz, got 8000 Hz",
                          "scipy.signal.resample_poly(waveform, 2, 1)")
    soundfile.write(tmp_path / "stereo.wav", np.stack([_burst(), _burst()], axis=1), RATE, subtype="PCM_16")
    run = run_glas(capsys, "explain", str(tmp_path / "stereo.wav"), "--model", audio_dir, "--grid", "4",
                   "--out", str(tmp_path / "out2"), "--quiet", "--device", "cpu")
    assert_one_line_error(run, "one mono waveform", "waveform.mean(axis=0)")
    np.save(tmp_path / "wave.npy", _burst())
    run = run_glas(capsys, "explain", str(tmp_path / "wave.npy"), "--model", audio_dir, "--grid", "4",
                   "--out", str(tmp_path / "out3"), "--quiet", "--device", "cpu")
    assert_one_line_error(run, "it carries no sampling rate", "soundfile.write(path, waveform, sampling_rate)")
    soundfile.write(tmp_path / "ok.wav", _burst(), RATE, subtype="PCM_16")
    run = run_glas(capsys, "explain", str(tmp_path / "ok.wav"), "--model", audio_dir, "--sigma", "5", "3",
                   "--out", str(tmp_path / "out4"), "--quiet", "--device", "cpu")
    assert_one_line_error(run, "one --sigma value and no --recursive for signals")


def test_a_npy_clip_with_a_video_classifier(tmp_path, capsys, video_dir):
    from glas_adapters.hf import HFVideoClassifier

    clip = (np.random.default_rng(0).random((4, 40, 48, 3)) * 255).astype(np.uint8)
    np.save(tmp_path / "clip.npy", clip)
    out = tmp_path / "out"
    run = run_glas(capsys, "explain", str(tmp_path / "clip.npy"), "--model", video_dir, "--grid", "2",
                   "--target", "2", "0", "--out", str(out), "--figures", "--quiet", "--device", "cpu")
    assert run.code == 0, run.err
    model = transformers.VideoMAEForVideoClassification.from_pretrained(video_dir).eval()
    clf = HFVideoClassifier(model, transformers.VideoMAEImageProcessor.from_pretrained(video_dir))
    direct = clf.explain(clip, [2, 0], grid=2, batch_size=32)
    manifest = pd.read_parquet(out / "manifest.parquet")
    assert list(manifest["target"]) == [2, 0]
    assert list(manifest["height"]) == [40, 40] and list(manifest["width"]) == [48, 48]  # the clip's frames
    stored = np.load(out / manifest["map_file"][0])
    for key, expected in zip(manifest["map_key"], direct.maps):
        assert stored[key].shape == (4, 40, 48)
        np.testing.assert_allclose(stored[key].astype(np.float64), expected / np.abs(expected).max(), atol=2e-3)
    assert len([f for f in files_under(str(out)) if f.startswith("figures/")]) == 2
    np.save(tmp_path / "short.npy", clip[:3])
    capsys.readouterr()  # what the direct load above printed
    run = run_glas(capsys, "explain", str(tmp_path / "short.npy"), "--model", video_dir, "--grid", "2",
                   "--out", str(tmp_path / "out2"), "--quiet", "--device", "cpu")
    assert_one_line_error(run, "short.npy", "the 4 frames the model is built for", "got 3 frames")
