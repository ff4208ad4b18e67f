#!/usr/bin/env bash
# Make sure Dawn (npm `webgpu`) finds a WebGPU adapter on this machine.
#
# Idempotent: if an adapter is already found, it does nothing. Otherwise, on
# Debian 12 as root, it installs Mesa's lavapipe Vulkan driver (libvulkan1 +
# mesa-vulkan-drivers) from bookworm-backports: Dawn rejects Mesa 22 from plain
# bookworm ("shaderUniform*ArrayDynamicIndexing required"), Mesa 25 works.
# The backports URI is taken from the machine's own Debian source, never a
# hard-coded host. Elsewhere it prints what to install and exits non-zero.
# In the same step it installs fonts-dejavu-core (plain bookworm) when DejaVu
# Sans is missing: the report's PNG charts (src/report/png.ts) draw their text
# with it. A missing font alone never fails the script (charts lose their text).
set -euo pipefail
cd "$(dirname "$0")/.."
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/tmp/xdg-runtime-$(id -u)}"
mkdir -p "$XDG_RUNTIME_DIR" && chmod 700 "$XDG_RUNTIME_DIR"

if [ ! -d node_modules/webgpu ]; then
  echo "setup-webgpu: installing npm packages (npm ci)"
  if [ -f package-lock.json ]; then npm ci --no-audit --no-fund; else npm install --no-audit --no-fund; fi
fi

probe() { node scripts/probe-adapter.mjs; }

font=/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf
need_font=0
[ -f "$font" ] || need_font=1
need_vulkan=0
probe || need_vulkan=1
if [ "$need_vulkan" = 0 ] && [ "$need_font" = 0 ]; then exit 0; fi

is_debian=0
if [ -r /etc/os-release ] && grep -q '^ID=debian' /etc/os-release; then is_debian=1; fi
if [ "$need_vulkan" = 0 ]; then
  # Only the font is missing: install it where we can, otherwise just say so.
  if [ "$is_debian" = 0 ] || [ "$(id -u)" != 0 ]; then
    echo "setup-webgpu: $font not found; report charts will have no text (install fonts-dejavu-core / DejaVu Sans)" >&2
    exit 0
  fi
  echo "setup-webgpu: installing fonts-dejavu-core (report chart text)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq fonts-dejavu-core >/dev/null
  exit 0
fi

echo "setup-webgpu: no WebGPU adapter found; trying to install a Vulkan driver"
if [ "$is_debian" = 0 ]; then
  echo "setup-webgpu: not Debian. Install a Vulkan driver and loader yourself" >&2
  echo "  (a GPU driver, or Mesa >= 24 lavapipe: libvulkan1 + mesa-vulkan-drivers)." >&2
  exit 1
fi
if [ "$(id -u)" != 0 ]; then
  echo "setup-webgpu: run as root, or install libvulkan1 and mesa-vulkan-drivers" >&2
  echo "  from bookworm-backports yourself (apt-get install -t bookworm-backports ...)." >&2
  exit 1
fi

codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-bookworm}")
backports="${codename}-backports"
list=/etc/apt/sources.list.d/lco-webgpu-backports.sources
if ! grep -rqs "$backports" /etc/apt/sources.list /etc/apt/sources.list.d/; then
  # The first URI of the main Debian archive (not debian-security) of this machine.
  uri=""
  if [ -f /etc/apt/sources.list.d/debian.sources ]; then
    uri=$(awk '/^URIs:/ { for (i = 2; i <= NF; i++) if ($i !~ /security/) { print $i; exit } }' \
      /etc/apt/sources.list.d/debian.sources)
  fi
  if [ -z "$uri" ] && [ -f /etc/apt/sources.list ]; then
    uri=$(awk '$1 == "deb" && $0 !~ /security/ { for (i = 2; i <= NF; i++) if ($i ~ /^[a-z+]+:\/\//) { print $i; exit } }' \
      /etc/apt/sources.list)
  fi
  if [ -z "$uri" ]; then
    echo "setup-webgpu: could not read the Debian archive URI from /etc/apt/sources.list(.d)" >&2
    exit 1
  fi
  echo "setup-webgpu: adding $backports from $uri"
  keyring=/usr/share/keyrings/debian-archive-keyring.gpg
  {
    echo "Types: deb"
    echo "URIs: $uri"
    echo "Suites: $backports"
    echo "Components: main"
    [ -f "$keyring" ] && echo "Signed-By: $keyring"
  } > "$list"
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq -t "$backports" libvulkan1 mesa-vulkan-drivers >/dev/null
if [ "$need_font" = 1 ]; then
  echo "setup-webgpu: installing fonts-dejavu-core (report chart text)"
  apt-get install -y -qq fonts-dejavu-core >/dev/null
fi
echo "setup-webgpu: installed $(dpkg-query -W -f='mesa-vulkan-drivers ${Version}' mesa-vulkan-drivers)"

if probe; then exit 0; fi
echo "setup-webgpu: still no adapter after installing lavapipe" >&2
exit 1
