#!/usr/bin/env bash
# On a machine with an NVIDIA GPU: install onnxruntime-gpu (with NVIDIA's CUDA and cuDNN
# wheels), serve the bundled model on CUDA, check that /v1/models reports the CUDA
# provider and that a translation comes back, then run the benchmark against PyTorch
# eager on the same GPU at batch and concurrency 1, 64 and 256.
#
#   make gpu-check                      # MODEL=models/en-es OUT=gpu-check.json
set -euo pipefail
PYTHON=${PYTHON:-python3}
MODEL=${MODEL:-models/en-es}
OUT=${OUT:-gpu-check.json}
PORT=${PORT:-8765}

command -v nvidia-smi >/dev/null || { echo "gpu-check: nvidia-smi not found: no NVIDIA GPU here" >&2; exit 2; }
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader

# The service and the PyTorch side (CUDA build of torch for the eager comparison).
"$PYTHON" -m pip install -q -e ".[train,dev]"
"$PYTHON" -m pip uninstall -q -y onnxruntime || true
"$PYTHON" -m pip install -q "onnxruntime-gpu[cuda,cudnn]>=1.18"
"$PYTHON" - <<'PY'
import onnxruntime as ort, torch
providers = ort.get_available_providers()
print("onnxruntime", ort.__version__, providers)
assert "CUDAExecutionProvider" in providers, "onnxruntime-gpu sees no CUDA provider"
print("torch", torch.__version__, "cuda available:", torch.cuda.is_available())
assert torch.cuda.is_available(), "the PyTorch build has no CUDA: install a CUDA wheel of torch"
PY

store=$(mktemp -d)
NMT_MODEL_DIR="$MODEL" NMT_DEVICE=cuda NMT_STORE_PATH="$store/a.sqlite3" NMT_LOG_LEVEL=warning \
  "$PYTHON" -m service serve --host 127.0.0.1 --port "$PORT" &
server=$!
trap 'kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true' EXIT
for _ in $(seq 1 120); do
  curl -sf "http://127.0.0.1:$PORT/health/ready" >/dev/null && break
  kill -0 "$server" || { echo "gpu-check: the service exited" >&2; exit 1; }
  sleep 1
done
"$PYTHON" - "$PORT" <<'PY'
import sys, httpx
url = f"http://127.0.0.1:{sys.argv[1]}"
provider = httpx.get(f"{url}/v1/models").json()["models"][0]["execution_provider"]
print("served with", provider)
assert provider == "CUDAExecutionProvider", provider
body = httpx.post(f"{url}/v1/translate", json={"text": "God is love.", "beam_size": 5}, timeout=60).json()
print("translation:", body["translations"][0]["text"])
PY
kill "$server"; wait "$server" 2>/dev/null || true; trap - EXIT

"$PYTHON" -m bench.load --model "$MODEL" --device cuda --batches 1 64 256 \
  --concurrency 1 64 256 --max-batch-size 256 --max-batch-rows 4096 --json "$OUT"
echo "gpu-check: figures in $OUT"
