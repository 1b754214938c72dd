#!/bin/sh
# Add WASM Workbench to this user's application menu (and `--remove` it again).
# Run it from the unpacked bundle folder; it writes only under ~/.local/share.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
data=${XDG_DATA_HOME:-$HOME/.local/share}
entry="$data/applications/wasm-workbench.desktop"
icon="$data/icons/hicolor/256x256/apps/wasm-workbench.png"
if [ "${1:-}" = "--remove" ]; then
    rm -f "$entry" "$icon"
    echo "Removed $entry and $icon."
    exit 0
fi
mkdir -p "$(dirname "$entry")" "$(dirname "$icon")"
cp "$here/wasm-workbench.png" "$icon"
# The menu entry must name the executable by its absolute path.
sed "s|^Exec=.*|Exec=\"$here/WASM-Workbench\"|" "$here/wasm-workbench.desktop" > "$entry"
echo "Added $entry (starts $here/WASM-Workbench)."
