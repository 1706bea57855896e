#!/usr/bin/env bash
# Rebuilds the bundled default model, lic_jax/assets/default, and the demo photo,
# lic_jax/assets/holdout.png (see lic_jax/assets/README.md for the images and licences).
#
#   tools/make_default_model.sh [WORKDIR]      # run from anywhere; needs .venv (make test)
#
# 1. installs pinned scikit-image and scikit-learn into a scratch venv (only for their
#    sample photos; lic_jax does not depend on them);
# 2. copies the 7 training photos into WORKDIR/train (coffee.png is held out: never
#    trained on, it is the demo photo);
# 3. trains a small ELIC with train.py, four stages (about 2.7 h on 2 CPU cores);
# 4. packages WORKDIR/run4/final with float16 weights (CDF tables recomputed from the
#    rounded weights) into lic_jax/assets/default.
# Training on CPU is not bit-reproducible across machines and XLA versions; the
# arguments and data are.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PY="$ROOT/.venv/bin/python"
PYTHON="${PYTHON:-python3.11}"
WORK="${1:-$(mktemp -d -t lic_jax_default.XXXXXX)}"
mkdir -p "$WORK"
echo "workdir: $WORK"

# 1. The sample photos ship inside these wheels.
if [ ! -x "$WORK/venv/bin/python" ]; then
  "$PYTHON" -m venv "$WORK/venv"
  "$WORK/venv/bin/pip" install --quiet scikit-image==0.26.0 scikit-learn==1.9.1
fi
SKIMAGE_DATA="$("$WORK/venv/bin/python" -c 'import os, skimage; print(os.path.join(os.path.dirname(skimage.__file__), "data"))')"
SKLEARN_IMAGES="$("$WORK/venv/bin/python" -c 'import os, sklearn.datasets as d; print(os.path.join(os.path.dirname(d.__file__), "images"))')"

# 2. RGB natural photos with a redistributable licence (README in lic_jax/assets).
rm -rf "$WORK/train"; mkdir -p "$WORK/train"
for f in astronaut.png chelsea.png rocket.jpg hubble_deep_field.jpg retina.jpg; do
  cp "$SKIMAGE_DATA/$f" "$WORK/train/"
done
cp "$SKLEARN_IMAGES/china.jpg" "$SKLEARN_IMAGES/flower.jpg" "$WORK/train/"

# 3. Train, in four stages (as the bundled model was made, in three sessions on a 2-core
# CPU): 1000 steps at lambda 0.0067; 600 more from those weights at lambda 0.02 (stage 1
# landed at 0.23 bpp on the held-out photo, 0.02 moves it towards 0.5 bpp); then 3600
# more at lambda 0.035 and a lower LR (stage 2 landed at 0.34 bpp); then 16000 more
# (stage 3's loss was still falling fast when its LR decayed).
cd "$ROOT"
train() { nice -n 19 "$PY" train.py "$@"; }
train --arch elic --model-config '{"N": 32, "M": 64, "slice_widths": [8, 8, 16, 32]}' \
    --data "$WORK/train" --patch-size 128 --batch-size 4 --steps 1000 \
    --lr 1e-3 --lr-milestones "750 900" --aux-lr 1e-2 \
    --lambda 0.0067 --log-every 25 --checkpoint-every 250 --seed 0 --workdir "$WORK/run"
train --init-from "$WORK/run/final" \
    --data "$WORK/train" --patch-size 128 --batch-size 4 --steps 600 \
    --lr 1e-3 --lr-milestones "450 550" --aux-lr 1e-2 \
    --lambda 0.02 --log-every 25 --checkpoint-every 300 --seed 1 --workdir "$WORK/run2"
train --init-from "$WORK/run2/final" \
    --data "$WORK/train" --patch-size 128 --batch-size 4 --steps 3600 \
    --lr 5e-4 --lr-milestones "2700 3300" --aux-lr 1e-3 \
    --lambda 0.035 --log-every 25 --checkpoint-every 600 --seed 2 --workdir "$WORK/run3"
train --init-from "$WORK/run3/final" \
    --data "$WORK/train" --patch-size 128 --batch-size 4 --steps 16000 \
    --lr 5e-4 --lr-milestones "11000 14500" --aux-lr 1e-3 \
    --lambda 0.035 --log-every 50 --checkpoint-every 1000 --seed 3 --workdir "$WORK/run4"

# 4. Package: float16 weights, tables from the rounded weights, the hash of the
# weights as loaded (float32 of the float16 values).
"$PY" - "$WORK/run4/final" "$ROOT/lic_jax/assets/default" <<'PYEOF'
import sys
import jax
import numpy as np
from lic_jax import checkpoint
from lic_jax.models import registry
from lic_jax.training.checkpointing import model_tables
source, target = sys.argv[1:]
meta, params, _ = checkpoint.load(source)
half = jax.tree_util.tree_map(lambda a: a.astype(np.float16), params)
model = registry.build(meta["arch"], meta["config"])
tables = model_tables(model, jax.tree_util.tree_map(lambda a: a.astype(np.float32), half))
extra = {k: v for k, v in meta.items()
         if k not in ("format_version", "arch", "config", "model_hash", "num_params")}
extra["weights_dtype"] = "float16"
extra["made_by"] = "tools/make_default_model.sh"
saved = checkpoint.save(target, meta["arch"], meta["config"], half, tables, extra=extra,
                        overwrite=True)
print(f"{target}: {saved['arch']} {saved['num_params']} params, hash {saved['model_hash']}")
PYEOF
cp "$SKIMAGE_DATA/coffee.png" "$ROOT/lic_jax/assets/holdout.png"
cat "$WORK"/run{,2,3,4}/metrics.jsonl > "$ROOT/lic_jax/assets/default_metrics.jsonl"
echo "done: lic_jax/assets/default, lic_jax/assets/holdout.png"
