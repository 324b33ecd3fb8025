#!/usr/bin/env bash
# System libraries Qt's xcb plugin and VTK need, plus Xvfb for headless tests and DICOM checkers.
# Asks for sudo only when not root; does nothing if everything is already installed.
set -euo pipefail
PKGS=(xvfb xauth libxcb-icccm4 libxcb-keysyms1 libxcb-cursor0 libxkbcommon-x11-0 libxcb-image0
      libxcb-randr0 libxcb-render-util0 libxcb-shape0 libxcb-xfixes0 libxcb-xkb1 libegl1 libgl1
      libglx-mesa0 libgl1-mesa-dri libfontconfig1 libdbus-1-3 fonts-dejavu-core x11-utils
      imagemagick dcmtk dicom3tools poppler-utils)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
echo "Installing system packages: ${missing[*]}"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
