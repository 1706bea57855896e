"""Training: the RD loss, the optimizer split, the input pipeline, train.py end to end,
and data parallelism (one step on 2 devices equals the step on 1).

What costs time here is XLA compiling the train step of the tiny MLIC++ (N=32, M=64,
2 slices; ~40-60 s on 2 cores). The training runs share this process, where
`trainer._COMPILED` lets the resume and the 1-device step reuse the first run's
executables; the 2-device step compiles once more in a subprocess (XLA_FLAGS must be
set before JAX starts). JAX's persistent compilation cache is not used: on CPU with
JAX 0.5.3, executables loaded from it hang (2 devices) or abort (1 device) on their
second run.

Images are small synthetic PNGs made here: smooth colour blocks plus noise.

Over 250 lines: one session-scoped training run (and its resume) serves most tests,
which a split would run again per file.
"""
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from PIL import Image

from conftest import REPO

TINY = {"N": 32, "M": 64, "slice_num": 2}
STEPS, CHECKPOINT_EVERY = 40, 20


def _script(name, path):
  spec = importlib.util.spec_from_file_location(name, os.path.join(REPO, path))
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


def train_module():
  return _script("train_cli", "train.py")


def tool_module(name):
  """A script of tools/ (not part of the package) as a module."""
  return _script(name, os.path.join("tools", f"{name}.py"))


def synthetic_image(height, width, seed):
  rng = np.random.default_rng(seed)
  coarse = rng.uniform(0, 255, (height // 16 + 1, width // 16 + 1, 3))
  image = np.kron(coarse, np.ones((16, 16, 1)))[:height, :width]
  return np.clip(image + rng.normal(0, 6, image.shape), 0, 255).astype(np.uint8)


def make_folder(folder, count, height=96, width=128, seed=0):
  os.makedirs(folder, exist_ok=True)
  for i in range(count):
    Image.fromarray(synthetic_image(height, width, seed + i)).save(
        os.path.join(folder, f"img{i:02d}.png"))
  return str(folder)


def tiny_args(data, workdir, *extra):
  return ["--data", str(data), "--workdir", str(workdir), "--model-config", json.dumps(TINY),
          "--patch-size", "64", "--batch-size", "2", *extra]


def run_cli(args, env_extra=None):
  env = dict(os.environ, JAX_PLATFORMS="cpu", **(env_extra or {}))
  env.pop("JAX_COMPILATION_CACHE_DIR", None)
  return subprocess.run([sys.executable, os.path.join(REPO, "train.py"), *args], env=env,
                        capture_output=True, text=True, timeout=600)


# ---- losses and optimizers ------------------------------------------------------

def test_rd_loss_is_the_originals_formula():
  import jax.numpy as jnp
  from lic_jax import losses
  x = jnp.full((2, 64, 64, 3), 0.5)
  out = {"x_hat": x + 0.1, "y_likelihoods": jnp.full((2, 4, 4, 8), 0.5),
         "z_likelihoods": jnp.full((2, 1, 1, 4), 0.25)}
  terms = losses.rate_distortion(out, x, lmbda=0.0130)
  bpp = (4 * 4 * 8 * 1 + 4 * 2) / (64 * 64)  # bits per image / pixels per image
  np.testing.assert_allclose(terms["bpp"], bpp, rtol=1e-4)
  np.testing.assert_allclose(terms["mse"], 0.01, rtol=1e-4)
  np.testing.assert_allclose(terms["loss"], 0.0130 * 255 ** 2 * 0.01 + bpp, rtol=1e-4)
  np.testing.assert_allclose(terms["psnr"], 20.0, rtol=1e-4)


def test_rd_loss_sums_the_streams_present():
  """A factorized-prior model has y alone: the rate is y's, and there is no z_bpp."""
  import jax.numpy as jnp
  from lic_jax import losses
  x = jnp.full((2, 64, 64, 3), 0.5)
  out = {"x_hat": x + 0.1, "y_likelihoods": jnp.full((2, 4, 4, 8), 0.5),
         "y_hat": jnp.zeros((2, 4, 4, 8))}
  terms = losses.rate_distortion(out, x, lmbda=0.0130)
  bpp = 4 * 4 * 8 / (64 * 64)
  assert "z_bpp" not in terms
  np.testing.assert_allclose([terms["bpp"], terms["y_bpp"]], [bpp, bpp], rtol=1e-4)
  np.testing.assert_allclose(terms["loss"], 0.0130 * 255 ** 2 * 0.01 + bpp, rtol=1e-4)
  out["z_likelihoods"] = jnp.full((2, 1, 1, 4), 0.25)
  terms = losses.per_image_terms(out, x, lmbda=0.0130)
  np.testing.assert_allclose(terms["z_bpp"], [8 / (64 * 64)] * 2, rtol=1e-4)
  np.testing.assert_allclose(terms["bpp"], terms["y_bpp"] + terms["z_bpp"], rtol=1e-6)


def test_ms_ssim_loss():
  import jax.numpy as jnp
  from lic_jax import metrics
  from lic_jax import losses
  x = jnp.asarray(np.stack([synthetic_image(192, 192, s) for s in range(2)]) / 255.0,
                  jnp.float32)
  x_hat = jnp.clip(x + 0.02, 0, 1)
  out = {"x_hat": x_hat, "y_likelihoods": jnp.full((2, 12, 12, 8), 0.5),
         "z_likelihoods": jnp.full((2, 3, 3, 4), 0.5)}
  terms = losses.rate_distortion(out, x, lmbda=2.4, metric="ms-ssim")
  expected = float(jnp.mean(metrics.ms_ssim(x_hat, x)))
  np.testing.assert_allclose(terms["ms_ssim"], expected, rtol=1e-4)
  np.testing.assert_allclose(terms["loss"], 2.4 * (1 - terms["ms_ssim"]) + terms["bpp"],
                             rtol=1e-6)


# ---- input pipeline -------------------------------------------------------------

def test_pipeline_is_deterministic_and_resumes_mid_stream(tmp_path):
  from lic_jax.training import input_pipeline
  data = make_folder(tmp_path / "data", 5)
  pipeline = input_pipeline.TrainPipeline(data, 64, 2, seed=7, num_threads=2)
  iterator = pipeline.iterator()
  first = [next(iterator) for _ in range(4)]
  position = json.loads(json.dumps(iterator.get_state()))  # As a checkpoint stores it.
  rest = [next(iterator) for _ in range(6)]  # Crosses epoch boundaries (5 images).
  assert first[0].shape == (2, 64, 64, 3) and first[0].dtype == np.uint8
  resumed = pipeline.iterator(position)
  assert all(np.array_equal(a, next(resumed)) for a in rest)
  again = input_pipeline.TrainPipeline(data, 64, 2, seed=7, num_threads=1).iterator()
  assert all(np.array_equal(a, next(again)) for a in first + rest)
  other = input_pipeline.TrainPipeline(data, 64, 2, seed=8).iterator()
  assert not np.array_equal(first[0], next(other))


def test_pipeline_skips_corrupt_files_with_a_count(tmp_path):
  from lic_jax.training import input_pipeline
  data = make_folder(tmp_path / "data", 3)
  with open(os.path.join(data, "garbage.png"), "wb") as f:
    f.write(b"this is not a PNG")
  good = open(os.path.join(data, "img00.png"), "rb").read()
  os.makedirs(os.path.join(data, "nested"))
  with open(os.path.join(data, "nested", "truncated.png"), "wb") as f:
    f.write(good[:len(good) // 2])  # A valid header, then the data stops.
  pipeline = input_pipeline.TrainPipeline(data, 64, 2, seed=0, num_threads=2)
  assert pipeline.skips.count == 1  # The header scan drops garbage.png ...
  iterator = pipeline.iterator()
  for _ in range(6):  # ... and decoding drops truncated.png, whenever it comes up.
    assert next(iterator).shape == (2, 64, 64, 3)
  assert [os.path.basename(p) for p, _ in pipeline.skips.items()] == ["garbage.png",
                                                                       "truncated.png"]


def test_pipeline_upscales_images_smaller_than_the_patch(tmp_path):
  from lic_jax.training import input_pipeline
  data = make_folder(tmp_path / "data", 1, height=128, width=128)
  Image.fromarray(synthetic_image(40, 100, 5)).save(os.path.join(data, "small.png"))
  pipeline = input_pipeline.TrainPipeline(data, 64, 2, seed=0, num_threads=1)
  assert pipeline.num_upscaled == 1 and "upscaled" in pipeline.summary()
  assert next(pipeline.iterator()).shape == (2, 64, 64, 3)
  assert input_pipeline.fit_to_patch(synthetic_image(40, 100, 5), 64).shape == (64, 160, 3)


def test_cli_empty_folder_is_a_clear_error(tmp_path):
  os.makedirs(tmp_path / "empty" / "sub")
  result = run_cli(tiny_args(tmp_path / "empty", tmp_path / "w", "--steps", "1"))
  assert result.returncode == 2
  assert "no images under" in result.stderr and "Traceback" not in result.stderr


def test_cli_patch_larger_than_every_image_is_a_clear_error(tmp_path):
  data = make_folder(tmp_path / "data", 2)  # 96x128 images
  result = run_cli(["--data", data, "--workdir", str(tmp_path / "w"), "--steps", "1",
                    "--patch-size", "256"])
  assert result.returncode == 2
  assert "smaller than the patch size 256" in result.stderr
  assert "Traceback" not in result.stderr


def test_cli_arch_and_size_come_from_the_registry(tmp_path, capsys):
  from lic_jax.models import registry
  p = train_module().parser()
  arch = next(a for a in p._actions if a.dest == "arch")
  assert list(arch.choices) == registry.names()
  args = ["--data", str(tmp_path), "--workdir", str(tmp_path / "w"), "--steps", "1"]
  with pytest.raises(SystemExit) as exit_info:
    train_module().main(args + ["--arch", "elic", "--size", "q3"])
  assert exit_info.value.code == 2
  err = capsys.readouterr().err
  assert "--size 'q3' is not a preset of elic" in err and "full" in err


# ---- train.py end to end --------------------------------------------------------

@pytest.fixture(scope="module")
def trained(tmp_path_factory):
  """One run of train.py (in this process): 40 steps, checkpoints at 20 and 40,
  validation at 20 and 40, metrics of every step. Copies of its outputs are kept
  for the tests that change the workdir."""
  root = tmp_path_factory.mktemp("training")
  data = make_folder(root / "data", 6)
  Image.fromarray(synthetic_image(40, 100, 99)).save(os.path.join(data, "small.png"))
  with open(os.path.join(data, "broken.jpg"), "wb") as f:
    f.write(b"\xff\xd8 not really a JPEG")
  val = make_folder(root / "val", 3, 64, 64, seed=50)
  workdir = root / "run"
  args = tiny_args(data, workdir, "--val", val, "--steps", str(STEPS), "--log-every", "1",
                   "--checkpoint-every", str(CHECKPOINT_EVERY), "--val-every", "20",
                   "--keep-checkpoints", "5", "--lr-milestones", "35", "--seed", "3")
  assert train_module().main(args) == 0
  shutil.copytree(workdir / "final", root / "final_copy")
  shutil.copy(workdir / "metrics.jsonl", root / "metrics_copy.jsonl")
  return {"root": root, "workdir": workdir, "args": args, "data": data}


def _train_losses(path):
  from lic_jax.training.writers import read_jsonl
  return {r["step"]: r["loss"] for r in read_jsonl(path, "train")}


def test_training_lowers_the_rd_loss(trained):
  losses = _train_losses(trained["root"] / "metrics_copy.jsonl")
  assert sorted(losses) == list(range(1, STEPS + 1))
  first = np.mean([losses[s] for s in range(1, 6)])
  last = np.mean([losses[s] for s in range(STEPS - 4, STEPS + 1)])
  print(f"RD loss: step 1 {losses[1]:.1f}; mean of steps 1-5 {first:.1f}, of steps 36-40 "
        f"{last:.1f}: factor {first / last:.1f}")
  assert first / last > 4  # Observed 6x (10x from step 1), mostly the distortion term.


def test_workdir_holds_logs_checkpoints_and_model_dirs(trained):
  from lic_jax import model_dir
  from lic_jax.training.writers import read_jsonl
  workdir = trained["workdir"]
  val = read_jsonl(trained["root"] / "metrics_copy.jsonl", "val")
  assert [r["step"] for r in val] == [20, 40]
  assert {"loss", "bpp", "psnr", "mse", "aux_loss"} <= set(val[0])
  train = read_jsonl(trained["root"] / "metrics_copy.jsonl", "train")[-1]
  assert {"loss", "bpp", "mse", "psnr", "aux_loss", "lr", "images_per_s"} <= set(train)
  np.testing.assert_allclose(train["lr"], 1e-5, rtol=1e-5)  # Decayed after step 35.
  assert any(f.startswith("events.out.tfevents") for f in os.listdir(workdir / "tensorboard"))
  assert sorted(os.listdir(workdir / "checkpoints")) == ["20", "40"]
  best = model_dir.read_meta(str(workdir / "best"))
  assert best["val"]["loss"] == min(r["loss"] for r in val)
  final = model_dir.read_meta(str(trained["root"] / "final_copy"))
  assert final["trained_steps"] == STEPS and final["arch"] == "mlicpp"


def test_resume_continues_exactly(trained):
  """Lose everything after the step-20 checkpoint, resume: steps 21-40 repeat
  exactly (same batches, noise and updates), and the final weights match."""
  from lic_jax import model_dir
  workdir = trained["workdir"]
  shutil.rmtree(workdir / "checkpoints" / "40")
  shutil.rmtree(workdir / "final")
  assert train_module().main(trained["args"] + ["--resume"]) == 0
  before = _train_losses(trained["root"] / "metrics_copy.jsonl")
  after = _train_losses(workdir / "metrics.jsonl")
  assert sorted(after) == list(range(1, STEPS + 1))
  np.testing.assert_allclose([after[s] for s in range(21, STEPS + 1)],
                             [before[s] for s in range(21, STEPS + 1)], rtol=1e-6)
  _, resumed, _ = model_dir.load(str(workdir / "final"))
  _, straight, _ = model_dir.load(str(trained["root"] / "final_copy"))
  import jax
  for a, b in zip(jax.tree_util.tree_leaves(resumed), jax.tree_util.tree_leaves(straight)):
    np.testing.assert_allclose(a, b, rtol=0, atol=1e-6)


def test_trained_model_compresses_and_decompresses(trained):
  import lic_jax
  from lic_jax import codec as codec_lib
  codec = lic_jax.load_model(str(trained["root"] / "final_copy"))
  image = synthetic_image(70, 100, 123)  # Not a multiple of 64: padded, then cropped.
  data = codec.compress(image)
  decoded = codec.decompress(data)
  assert decoded.shape == image.shape and len(data) > 0
  x_hat = codec.forward(codec_lib.pad_image(image))["x_hat"]
  np.testing.assert_array_equal(decoded, codec_lib.to_uint8(x_hat, 70, 100))


_TWO_DEVICE_STEP = textwrap.dedent("""
    import json, sys
    import jax, numpy as np
    from lic_jax.training import checkpointing, sharding
    from lic_jax.training.config import TrainConfig
    from lic_jax.training.trainer import Trainer
    config = TrainConfig(**json.loads(sys.argv[1]))
    mesh = sharding.make_mesh()
    assert mesh.devices.size == 2, jax.devices()
    trainer = Trainer(config, mesh, say=lambda line: None, abstract=True)
    manager = checkpointing.checkpoint_manager(sys.argv[2], 5)
    trainer.state, _ = checkpointing.restore_checkpoint(manager, int(sys.argv[3]),
                                                        trainer.state, mesh)
    trainer.compile_train()
    metrics = trainer.step(np.load(sys.argv[4]))
    leaves = jax.tree_util.tree_leaves(sharding.host_copy(trainer.state.params))
    np.savez(sys.argv[5], loss=sharding.host_copy(metrics)["loss"], *leaves)
""")


def test_one_step_is_the_same_on_two_devices_as_on_one(trained, tmp_path):
  """Restore the step-20 state, take one step on the same global batch of 2 on a
  1-device mesh (here) and a 2-device mesh (a subprocess with 2 host devices)."""
  import jax
  from lic_jax.training import checkpointing, sharding, trainer as trainer_lib
  from lic_jax.training.config import TrainConfig
  config = TrainConfig(data=trained["data"], steps=STEPS, model_overrides=tuple(
      TINY.items()), patch_size=64, batch_size=2, lr_milestones=(35,), seed=3)
  batch = np.stack([synthetic_image(64, 64, 200 + i) for i in range(2)])
  np.save(tmp_path / "batch.npy", batch)
  record = {k: v for k, v in config.__dict__.items()}
  flags = os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=2"
  env = dict(os.environ, XLA_FLAGS=flags.strip(), JAX_PLATFORMS="cpu", PYTHONPATH=REPO)
  env.pop("JAX_COMPILATION_CACHE_DIR", None)
  result = subprocess.run(
      [sys.executable, "-c", _TWO_DEVICE_STEP, json.dumps(record),
       str(trained["workdir"]), str(CHECKPOINT_EVERY),
       str(tmp_path / "batch.npy"), str(tmp_path / "two.npz")],
      env=env, capture_output=True, text=True, timeout=900)
  assert result.returncode == 0, result.stderr[-3000:]

  mesh = sharding.make_mesh(jax.devices()[:1])
  trainer = trainer_lib.Trainer(config, mesh, say=lambda line: None, abstract=True)
  manager = checkpointing.checkpoint_manager(str(trained["workdir"]), 5)
  trainer.state, _ = checkpointing.restore_checkpoint(manager, CHECKPOINT_EVERY,
                                                      trainer.state, mesh)
  trainer.compile_train()  # Reuses the training run's executable.
  loss_one = float(sharding.host_copy(trainer.step(batch))["loss"])
  one = jax.tree_util.tree_leaves(sharding.host_copy(trainer.state.params))
  two = np.load(tmp_path / "two.npz")
  np.testing.assert_allclose(float(two["loss"]), loss_one, rtol=1e-5)
  diff = max(float(np.abs(a - two[f"arr_{i}"]).max()) for i, a in enumerate(one))
  print(f"1 vs 2 devices: loss {loss_one:.6f} vs {float(two['loss']):.6f}, "
        f"max |param difference| {diff:.3g}")
  assert diff < 1e-6


def test_init_from_starts_from_exactly_the_converted_weights(model_dirs, codecs, tmp_path):
  import jax
  import lic_jax
  from lic_jax import model_dir
  source = model_dirs("mlicpp_small")
  data = make_folder(tmp_path / "data", 2)
  status = train_module().main(["--init-from", source, "--data", data, "--workdir",
                                str(tmp_path / "w"), "--patch-size", "64", "--batch-size",
                                "2", "--steps", "0"])
  assert status == 0
  final = str(tmp_path / "w" / "final")
  meta = model_dir.read_meta(final)
  assert meta["model_hash"] == model_dir.read_meta(source)["model_hash"]  # Same weights.
  x = jax.numpy.asarray(synthetic_image(64, 128, 9)[None] / 255.0, jax.numpy.float32)
  ours = lic_jax.load_model(final).forward(x)
  theirs = codecs("mlicpp_small").forward(x)
  for key in ("x_hat", "y_likelihoods", "z_likelihoods"):
    np.testing.assert_array_equal(ours[key], theirs[key])
  mismatch = train_module().main(["--init-from", source, "--arch", "elic", "--data", data,
                                  "--workdir", str(tmp_path / "w2"), "--patch-size", "64",
                                  "--batch-size", "2", "--steps", "0"])
  assert mismatch == 2


def test_a_model_without_z_trains(tmp_path):
  """bmshj2018-factorized (y under a factorized prior, no hyperprior) trains through
  train.py; its model directory has y's tables only and loads as a codec."""
  import jax
  import lic_jax
  from lic_jax import model_dir
  from lic_jax.training.writers import read_jsonl
  data = make_folder(tmp_path / "data", 2)
  workdir = tmp_path / "w"
  status = train_module().main([
      "--arch", "bmshj2018-factorized", "--size", "test-small", "--data", data,
      "--workdir", str(workdir), "--patch-size", "64", "--batch-size", "2", "--steps", "2",
      "--log-every", "1"])
  assert status == 0
  train = read_jsonl(workdir / "metrics.jsonl", "train")
  assert [r["step"] for r in train] == [1, 2]
  assert "y_bpp" in train[-1] and "z_bpp" not in train[-1]
  assert np.isfinite([train[-1]["loss"], train[-1]["aux_loss"]]).all()
  meta, params, tables = model_dir.load(str(workdir / "final"))
  assert meta["arch"] == "bmshj2018-factorized" and meta["trained_steps"] == 2
  assert sorted(tables) == ["y_cdf_length", "y_offset", "y_quantized_cdf"]
  x = jax.numpy.asarray(synthetic_image(64, 64, 7)[None] / 255.0, jax.numpy.float32)
  out = lic_jax.load_model(str(workdir / "final")).forward(x)
  assert "y_likelihoods" in out and "z_likelihoods" not in out


def test_a_variable_rate_model_trains_from_a_fixed_rate_one(tmp_path, capsys):
  """train.py --lambdas: elic-vbr started from a fixed-rate elic trained at lambda 0.02
  copies its weights and starts its gains at sqrt(lambda / 0.02) (the middle level is
  that model's quantizer); it trains each image at a rate of its own, its loss weighted
  by --level-balance; what it writes codes exact round trips between its levels,
  recording the gain. tools/add_rate_level.py adds a level above its top that codes
  as well; --level-balance without --lambdas is refused."""
  import lic_jax
  from lic_jax import bitstream, model_dir
  from lic_jax.codec import pad_image, to_uint8
  from lic_jax.training.writers import read_jsonl
  data = make_folder(tmp_path / "data", 2)
  common = ["--data", data, "--patch-size", "64", "--batch-size", "2", "--log-every", "1"]
  assert train_module().main(["--arch", "elic", "--size", "test-small", "--lambda", "0.02",
                              "--workdir", str(tmp_path / "fixed"), "--steps", "0", *common]) == 0
  lambdas = [0.005, 0.02, 0.08]
  vbr = ["--arch", "elic-vbr", "--init-from", str(tmp_path / "fixed" / "final"),
         "--model-config", '{"levels": 3}', "--lambdas", " ".join(map(str, lambdas)), *common]
  assert train_module().main([*vbr, "--workdir", str(tmp_path / "start"), "--steps", "0"]) == 0
  _, start, _ = model_dir.load(str(tmp_path / "start" / "final"))
  np.testing.assert_allclose(start["Gain"], np.sqrt(np.asarray(lambdas) / 0.02), rtol=1e-6)
  workdir = tmp_path / "vbr"
  assert train_module().main([*vbr, "--workdir", str(workdir), "--steps", "2",
                              "--level-balance", "0.7"]) == 0
  train = read_jsonl(workdir / "metrics.jsonl", "train")
  assert [r["step"] for r in train] == [1, 2] and np.isfinite(train[-1]["loss"])
  codec = lic_jax.load_model(str(workdir / "final"))
  image = synthetic_image(40, 72, 5)
  for quality in (1.5, 3):
    data = codec.compress(image, quality=quality)
    assert bitstream.info(data)["gain"] == codec.rate(quality)[1]
    expected = to_uint8(codec.forward(pad_image(image), quality=quality)["x_hat"], 40, 72)
    assert np.array_equal(codec.decompress(data), expected)
  # One level more: the old gains kept, the new one the ladder's last ratio on, its
  # lambda recorded; a round trip between the old top and the new one.
  add_level = tool_module("add_rate_level")
  with pytest.raises(SystemExit):
    add_level.main([str(workdir / "final"), str(tmp_path / "bad"), "--lambda", "0.05"])
  assert not (tmp_path / "bad").exists()
  add_level.main([str(workdir / "final"), str(tmp_path / "four"), "--lambda", "0.32"])
  meta, four, _ = model_dir.load(str(tmp_path / "four"))
  _, three, _ = model_dir.load(str(workdir / "final"))
  gains = np.abs(three["Gain"])
  np.testing.assert_allclose(four["Gain"], [*gains, gains[2] ** 2 / gains[1]], rtol=1e-6)
  assert meta["config"]["levels"] == 4 and meta["lambda"] == [*lambdas, 0.32]
  codec = lic_jax.load_model(str(tmp_path / "four"))
  data = codec.compress(image, quality=3.5)
  expected = to_uint8(codec.forward(pad_image(image), quality=3.5)["x_hat"], 40, 72)
  assert np.array_equal(codec.decompress(data), expected)
  capsys.readouterr()
  assert train_module().main(["--arch", "elic", "--size", "test-small", "--level-balance",
                              "0.7", "--workdir", str(tmp_path / "w"), "--steps", "1",
                              *common]) == 2
  assert "--level-balance weights the levels of --lambdas" in capsys.readouterr().err


def test_data_position_of_a_checkpoint_from_another_process_count():
  """A checkpoint keeps every process's data position; a run with another number of
  processes (or a checkpoint without positions) gets none, and the reason."""
  from lic_jax.training import checkpointing
  position = {"next_index": 16}
  assert checkpointing.data_position({"data_positions": [position]}) == (position, None)
  missing, why = checkpointing.data_position({"data_positions": [position, position]})
  assert missing is None and "written by 2 process(es) and this run has 1" in why
  missing, why = checkpointing.data_position({"step": 4})
  assert missing is None and "older lic_jax" in why
