#!/usr/bin/env python3
"""Download the source distribution of NAME==VERSION from PyPI's simple index into DEST.

Used by install.sh to build KenLM's lmplz/build_binary: `pip download --no-binary` would build
the package's build dependencies (cmake!) from source just to read its metadata.
Usage: fetch_sdist.py NAME VERSION DEST
"""

import hashlib
import re
import sys
import urllib.request
from pathlib import Path


def main() -> int:
    name, version, dest = sys.argv[1], sys.argv[2], Path(sys.argv[3])
    index = f"https://pypi.org/simple/{name}/"
    html = urllib.request.urlopen(index, timeout=60).read().decode()
    wanted = f"{name}-{version}.tar.gz"
    for url in re.findall(r'href="([^"]+)"', html):
        path, _, fragment = url.partition("#")
        if not path.endswith("/" + wanted):
            continue
        data = urllib.request.urlopen(path, timeout=300).read()
        expected = fragment.removeprefix("sha256=")
        if expected and hashlib.sha256(data).hexdigest() != expected:
            print(f"fetch_sdist: {wanted}: sha256 mismatch, download corrupt", file=sys.stderr)
            return 1
        dest.mkdir(parents=True, exist_ok=True)
        (dest / wanted).write_bytes(data)
        print(dest / wanted)
        return 0
    print(f"fetch_sdist: {wanted} not found in {index}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
