#!/bin/sh
# The runtime image's setup, run as root by the Dockerfile's runtime stage and by
# verify-runtime inside a clean Debian 12 root, so both get the same packages, user and
# directories. Usage: runtime-setup.sh DIR   (DIR holds apt-install and runtime-packages.txt)
set -eu
dir=${1:?usage: runtime-setup.sh DIR}
sh "$dir/apt-install" "$dir/runtime-packages.txt"

# The unprivileged user the engine runs as, with fixed ids so that volumes and bind mounts
# keep one owner across images (chown 10001:10001 a host directory to mount it).
groupadd --system --gid 10001 tunetrail
useradd --system --uid 10001 --gid tunetrail --home-dir /var/lib/tunetrail --no-create-home \
    --shell /usr/sbin/nologin --comment "TuneTrail recommendation engine" tunetrail

# The working directory and the two volumes: model files and the embedded SQLite database.
install -d -o tunetrail -g tunetrail -m 0750 /var/lib/tunetrail \
    /var/lib/tunetrail/models /var/lib/tunetrail/data
