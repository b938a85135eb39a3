import io
import tarfile
import zipfile

import pytest

from shared import data
from shared.errors import UserError


def make_tar(path, members):
    with tarfile.open(path, "w:gz") as bundle:
        for name, payload in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(payload)
            bundle.addfile(info, io.BytesIO(payload))
    return path


def test_fetch_file_extracts_a_tar_and_a_zip_from_a_local_origin(tmp_path):
    archive = make_tar(tmp_path / "a.tar.gz", {"top/x.txt": b"hello"})
    folder = data.fetch_file(archive.as_uri(), "a.tar.gz", tmp_path / "cache", extract=True)
    assert (folder / "top" / "x.txt").read_bytes() == b"hello"
    with zipfile.ZipFile(tmp_path / "b.zip", "w") as bundle:
        bundle.writestr("spa-eng/spa.txt", "Go.\tVe.\n")
    folder = data.fetch_file((tmp_path / "b.zip").as_uri(), "b.zip", tmp_path / "cache", extract=True)
    assert (folder / "spa-eng" / "spa.txt").read_text() == "Go.\tVe.\n"


@pytest.mark.parametrize("evil", ["../escape.txt", "/tmp/absolute-escape.txt", "a/../../escape.txt"])
def test_fetch_file_refuses_archives_with_members_outside_the_folder(tmp_path, evil):
    archive = make_tar(tmp_path / "evil.tar.gz", {"fine.txt": b"ok", evil: b"pwned"})
    with pytest.raises(UserError, match="outside .* archive refused"):
        data.fetch_file(archive.as_uri(), "evil.tar.gz", tmp_path / "cache", extract=True)
    assert not (tmp_path / "escape.txt").exists() and not (tmp_path / "cache" / "escape.txt").exists()
    assert not list((tmp_path / "cache").iterdir())  # nothing half-extracted, the archive gone too
    with zipfile.ZipFile(tmp_path / "evil.zip", "w") as bundle:
        bundle.writestr(evil, "pwned")
    with pytest.raises(UserError, match="outside"):
        data.fetch_file((tmp_path / "evil.zip").as_uri(), "evil.zip", tmp_path / "cache", extract=True)
    assert not list((tmp_path / "cache").iterdir())


def test_fetch_file_verifies_the_pinned_hash(tmp_path):
    source = tmp_path / "source.bin"
    source.write_bytes(b"payload")
    good = data.sha256(source)
    target = data.fetch_file(source.as_uri(), "file.bin", tmp_path / "cache", good)
    assert target == tmp_path / "cache" / "file.bin" and target.read_bytes() == b"payload"
    with pytest.raises(UserError, match="does not match the pinned"):
        data.fetch_file(source.as_uri(), "other.bin", tmp_path / "cache", "0" * 64)
    assert not list((tmp_path / "cache").glob("other*"))


def test_fetch_file_failure_says_what_to_do_instead(tmp_path):
    with pytest.raises(UserError, match="could not download .* set RECIPES_DATA_DIR"):
        data.fetch_file((tmp_path / "missing").as_uri(), "x", tmp_path / "cache")
    assert not (tmp_path / "cache" / "x").exists()


def test_locate_prefers_recipes_data_dir_and_never_fetches(tmp_path, monkeypatch):
    (tmp_path / "imdb").mkdir()
    (tmp_path / "imdb" / "train.csv").write_text("review,sentiment\n")
    monkeypatch.setenv("RECIPES_DATA_DIR", str(tmp_path))
    assert data.locate("imdb/train.csv", fetch=pytest.fail) == tmp_path / "imdb" / "train.csv"
    with pytest.raises(UserError, match="has no text/tinyshakespeare.txt"):
        data.locate("text/tinyshakespeare.txt", fetch=pytest.fail)


def test_locate_without_data_dir_fetches_into_the_cache(tmp_path, monkeypatch):
    monkeypatch.delenv("RECIPES_DATA_DIR", raising=False)
    monkeypatch.setenv("RECIPES_CACHE_DIR", str(tmp_path / "cache"))
    assert data.locate("imdb/train.csv", fetch=lambda cache: cache / "fetched") == tmp_path / "cache" / "fetched"


def test_read_text_names_the_line_of_bad_bytes(tmp_path):
    path = tmp_path / "bad.txt"
    path.write_bytes("first line\nsecond é\n".encode() + b"third \xff\n")
    with pytest.raises(UserError, match=r"bad.txt: line 3: bytes that are not valid utf-8"):
        data.read_text(path)
    assert data.read_text(path, encoding="latin-1").endswith("third ÿ\n")
    (tmp_path / "empty.txt").write_text("  \n")
    with pytest.raises(UserError, match="empty"):
        data.read_text(tmp_path / "empty.txt")
    with pytest.raises(UserError, match="no such"):
        data.read_text(tmp_path / "missing.txt")


def test_prefetched_keeps_every_batch_and_turns_autotuning_off():
    tf = pytest.importorskip("tensorflow")
    source = tf.data.Dataset.range(7).map(lambda x: x * 2).prefetch(tf.data.AUTOTUNE).batch(3)
    ready = data.prefetched(source)
    assert [batch.tolist() for batch in ready.as_numpy_iterator()] == [[0, 2, 4], [6, 8, 10], [12]]
    # Autotuning's thread makes deleting an iterator wait up to a minute (the docstring).
    assert source.options().autotune.enabled is not False and ready.options().autotune.enabled is False


def test_a_link_out_of_the_tree_is_refused_like_a_dotdot_member(tmp_path):
    archive = tmp_path / "links.tar.gz"
    with tarfile.open(archive, "w:gz") as bundle:
        link = tarfile.TarInfo("data/escape")
        link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
        bundle.addfile(link)
    with pytest.raises(UserError, match="member 'data/escape' would be written outside"):
        data.fetch_file(archive.as_uri(), "links.tar.gz", tmp_path / "cache", extract=True)
    assert not list((tmp_path / "cache").iterdir())


def test_a_byte_order_mark_is_read_as_the_encoding_says_in_every_reader(tmp_path):
    from recipes.forecast import data as prices
    from recipes.sentiment import data as reviews
    from recipes.translate import data as pairs

    bom = "\ufeff"
    (tmp_path / "r.csv").write_text(bom + "review,sentiment\nnice,positive\nbad,negative\n", encoding="utf-8")
    assert reviews.read_csv(tmp_path / "r.csv").texts == ["nice", "bad"]
    (tmp_path / "p.tsv").write_text(bom + "Hello.\tHola.\n", encoding="utf-8")
    assert pairs.read_pairs(tmp_path / "p.tsv").english == ["Hello."]
    (tmp_path / "s.csv").write_text(bom + "Date,Close\n2020-01-01,2\n2020-01-02,3\n", encoding="utf-8")
    assert len(prices.read_prices(tmp_path / "s.csv")) == 2
    (tmp_path / "t.txt").write_text(bom + "abc", encoding="utf-8")
    assert data.read_text(tmp_path / "t.txt") == "abc"


def test_the_catalog_datasets_are_written_in_the_data_dir_layout(tmp_path, monkeypatch):
    """The download path, offline: tfds's mock data stands in for imdb_reviews and tiny_shakespeare."""
    tfds = pytest.importorskip("tensorflow_datasets")
    from recipes.sentiment import data as reviews
    from recipes.textgen import data as text

    monkeypatch.delenv("RECIPES_DATA_DIR", raising=False)
    monkeypatch.setenv("RECIPES_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(data, "check_reachable", lambda url, what: None)  # mock data: no host to reach
    with tfds.testing.mock_data(num_examples=6):
        train, test, source = reviews.load_splits("", seed=0)
        catalog = [(row["text"].decode(), int(row["label"])) for row in data.catalog("imdb_reviews", "test", tmp_path)]
        parts = [data.catalog("tiny_shakespeare", part, tmp_path)[0]["text"].decode() for part in text.CATALOG_PARTS]
        corpus, where = text.load_text("", "tinyshakespeare", "utf-8")
    assert source == str(tmp_path / "cache" / "imdb") and len(train) == len(test) == 6
    assert list(zip(test.texts, test.labels.tolist())) == catalog  # the official test split, labels kept
    assert corpus == "".join(parts) and where == str(tmp_path / "cache" / "text" / "tinyshakespeare.txt")
    assert not list((tmp_path / "cache").rglob("*.partial"))


def test_translate_fetches_spa_eng_with_get_file(tmp_path, monkeypatch):
    from recipes.translate import data as pairs

    with zipfile.ZipFile(tmp_path / "spa-eng.zip", "w") as bundle:
        bundle.writestr("spa-eng/spa.txt", "Go.\tVe.\nHello.\tHola.\n")
        bundle.writestr("spa-eng/_about.txt", "Tatoeba")
    monkeypatch.delenv("RECIPES_DATA_DIR", raising=False)
    monkeypatch.setenv("RECIPES_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(pairs, "SPA_ENG_URL", (tmp_path / "spa-eng.zip").as_uri())
    loaded, source = pairs.load_pairs("")
    assert loaded.english == ["Go.", "Hello."] and source.startswith(str(tmp_path / "cache"))
    (tmp_path / "spa-eng.zip").unlink()
    assert pairs.load_pairs("")[1] == source  # from the cache: the origin is not read again
