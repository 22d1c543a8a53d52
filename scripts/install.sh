#!/usr/bin/env bash
# Install what netrender needs on Debian 12: Blender from apt, then this package
# (with --test: and its test tools) in a virtual environment at .venv.
# Safe to run again: it only installs what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

extras=""
[ "${1:-}" = "--test" ] && extras="[test]"
sudo=""
[ "$(id -u)" -ne 0 ] && sudo="sudo"

packages=()
command -v blender >/dev/null || packages+=(blender)
python3 -c "import ensurepip, venv" 2>/dev/null || packages+=(python3-venv)
# The tests compare images the way an artist's tools would: OpenImageIO's idiff.
[ -n "$extras" ] && ! command -v idiff >/dev/null && packages+=(openimageio-tools)
# The web monitor's tests drive Debian's Chromium (Playwright cannot download a browser here).
[ -n "$extras" ] && ! command -v chromium >/dev/null && packages+=(chromium)
# Screenshots of Blender's own GUI run it on a virtual X display (Xvfb), drawn with
# Mesa's software OpenGL (llvmpipe, in libgl1-mesa-dri: the OpenGL 3.3 Blender needs).
[ -n "$extras" ] && ! command -v Xvfb >/dev/null && packages+=(xvfb)
[ -n "$extras" ] && ! dpkg -s libgl1-mesa-dri >/dev/null 2>&1 && packages+=(libgl1-mesa-dri)
# Versioned jobs are tested against real Git and Subversion repositories the tests make.
[ -n "$extras" ] && ! command -v git >/dev/null && packages+=(git)
[ -n "$extras" ] && ! command -v svn >/dev/null && packages+=(subversion)
# SSH nodes are tested against Debian's own OpenSSH server, which each test starts on loopback.
[ -n "$extras" ] && [ ! -x /usr/sbin/sshd ] && packages+=(openssh-server)
if [ ${#packages[@]} -gt 0 ]; then
    echo "installing with apt: ${packages[*]}"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null
fi

[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install -q --disable-pip-version-check --upgrade pip
.venv/bin/python -m pip install -q --disable-pip-version-check -e ".${extras}"
echo "netrender installed: $(.venv/bin/netrender --version), $(blender --version | head -n 1)"
