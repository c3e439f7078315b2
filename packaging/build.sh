#!/usr/bin/env bash
# Build the one-folder bundle: packaging/build.sh [runtime|full]  ->  dist/<variant>/glimpse/glimpse
set -euo pipefail
cd "$(dirname "$0")/.."
variant="${1:-runtime}"
scripts/bootstrap.sh tools,dev,bundle
export GLIMPSE_BUNDLE="$variant"
.venv/bin/pyinstaller --noconfirm --clean --log-level WARN \
  --distpath "dist/$variant" --workpath "build/$variant" packaging/glimpse.spec
du -sh "dist/$variant/glimpse"
echo "Run it: dist/$variant/glimpse/glimpse   (self-test: dist/$variant/glimpse/glimpse --self-test)"
