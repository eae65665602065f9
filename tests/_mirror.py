"""A loopback HTTP mirror and small archives in the layouts of the public pet datasets, for tests."""

from __future__ import annotations

import hashlib
import http.server
import io
import re
import tarfile
import threading
import zipfile

import numpy as np


def jpeg_bytes(color, size=(48, 40), seed=0):
    """A small JPEG of one colour with a little noise (distinct files for distinct seeds)."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    arr = np.clip(np.asarray(color, dtype=float) + rng.normal(0, 12, (size[1], size[0], 3)), 0, 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, "JPEG", quality=90)
    return buf.getvalue()


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def dogs_vs_cats_zip(n_per_class=6):
    """Microsoft's layout: PetImages/{Cat,Dog}/N.jpg, plus a corrupt JPEG, a 0-byte file and a Thumbs.db.

    Returns the zip's bytes and the names of the two unusable files.
    """
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for label, color in (("Cat", (200, 120, 60)), ("Dog", (60, 90, 200))):
            for i in range(n_per_class):
                z.writestr(f"PetImages/{label}/{i}.jpg", jpeg_bytes(color, seed=i + 100 * (label == "Dog")))
            z.writestr(f"PetImages/{label}/Thumbs.db", b"not a photo")
        whole = jpeg_bytes((10, 200, 10), size=(64, 64), seed=7)
        z.writestr(f"PetImages/Cat/{n_per_class}.jpg", whole[: len(whole) // 2])  # truncated JPEG
        z.writestr(f"PetImages/Dog/{n_per_class}.jpg", b"")  # 0 bytes
        z.writestr("readme[1].txt", b"Microsoft's archive carries a readme")
    return buf.getvalue(), (f"PetImages/Cat/{n_per_class}.jpg", f"PetImages/Dog/{n_per_class}.jpg")


def breed_names(n=37):
    """37 breeds as Oxford-IIIT Pet names them: cats capitalised, dogs in lower case."""
    cats = ["Abyssinian", "Bengal", "Birman", "Bombay", "British_Shorthair", "Egyptian_Mau",
            "Maine_Coon", "Persian", "Ragdoll", "Russian_Blue", "Siamese", "Sphynx"]  # fmt: skip
    dogs = ["american_bulldog", "american_pit_bull_terrier", "basset_hound", "beagle", "boxer", "chihuahua",
            "english_cocker_spaniel", "english_setter", "german_shorthaired", "great_pyrenees", "havanese",
            "japanese_chin", "keeshond", "leonberger", "miniature_pinscher", "newfoundland", "pomeranian", "pug",
            "saint_bernard", "samoyed", "scottish_terrier", "shiba_inu", "staffordshire_bull_terrier",
            "wheaten_terrier", "yorkshire_terrier"]  # fmt: skip
    return sorted(cats + dogs, key=str.lower)[:n]


def _add(tar, name, data):
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


def oxford_pets_archives(per_split=2, breeds=None, box=(11, 6, 30, 25)):
    """images.tar.gz and annotations.tar.gz in Oxford-IIIT Pet's layout.

    Each breed gets ``per_split`` trainval and ``per_split`` test photos of
    its own colour (so a classifier can tell the breeds apart), named
    ``Breed_1.jpg`` ...; trainval photos get a head box ``box`` (pixels,
    1-based inclusive) in ``annotations/xmls``; photo 48x40.
    """
    breeds = breed_names() if breeds is None else breeds
    rng = np.random.default_rng(0)
    colors = rng.integers(20, 236, size=(len(breeds), 3))
    images, lists = io.BytesIO(), {"trainval": [], "test": []}
    xmls = {}
    with tarfile.open(fileobj=images, mode="w:gz") as tar:
        for class_id, (breed, color) in enumerate(zip(breeds, colors, strict=True), 1):
            species = 1 if breed[0].isupper() else 2
            for j in range(2 * per_split):
                name = f"{breed}_{j + 1}"
                _add(tar, f"images/{name}.jpg", jpeg_bytes(color, seed=class_id * 100 + j))
                split = "trainval" if j < per_split else "test"
                lists[split].append(f"{name} {class_id} {species} {class_id}")
                if split == "trainval":
                    xmin, ymin, xmax, ymax = box
                    xmls[name] = (
                        f"<annotation><filename>{name}.jpg</filename><size><width>48</width><height>40</height>"
                        f"<depth>3</depth></size><object><name>{'cat' if species == 1 else 'dog'}</name><bndbox>"
                        f"<xmin>{xmin}</xmin><ymin>{ymin}</ymin><xmax>{xmax}</xmax><ymax>{ymax}</ymax>"
                        "</bndbox></object></annotation>"
                    )
        _add(tar, "images/Abyssinian_100.mat", b"MATLAB 5.0 MAT-file: not a photo, not listed")
    annotations = io.BytesIO()
    with tarfile.open(fileobj=annotations, mode="w:gz") as tar:
        header = "#Image CLASS-ID SPECIES BREED ID\n#ID: 1:37 Class ids\n"
        _add(tar, "annotations/list.txt", (header + "\n".join(lists["trainval"] + lists["test"]) + "\n").encode())
        for split, rows in lists.items():
            _add(tar, f"annotations/{split}.txt", ("\n".join(rows) + "\n").encode())
        for name, text in xmls.items():
            _add(tar, f"annotations/xmls/{name}.xml", text.encode())
    return {"images.tar.gz": images.getvalue(), "annotations.tar.gz": annotations.getvalue()}


class Mirror:
    """Serves ``files`` on 127.0.0.1 from a thread; records each request's path and Range header.

    ``drops[name] = n`` makes the next ``n`` responses for ``name`` stop
    halfway through the body and close the connection; ``ranges=False``
    ignores Range headers (answers 200 with the whole file).
    """

    def __init__(self, files):
        self.files = dict(files)
        self.drops = {}
        self.ranges = True
        self.requests = []
        mirror = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                name = self.path.lstrip("/")
                mirror.requests.append((name, self.headers.get("Range")))
                data = mirror.files.get(name)
                if data is None:
                    self.send_error(404)
                    return
                start = 0
                match = re.fullmatch(r"bytes=(\d+)-", self.headers.get("Range") or "")
                if mirror.ranges and match:
                    start = int(match.group(1))
                    if start >= len(data):
                        self.send_error(416)
                        return
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                else:
                    self.send_response(200)
                body = data[start:]
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if mirror.drops.get(name, 0) > 0:
                    mirror.drops[name] -= 1
                    self.wfile.write(body[: len(body) // 2])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                self.wfile.write(body)

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()
