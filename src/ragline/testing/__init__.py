"""Contract test suites that ship with ragline, so a third-party backend proves itself with the
same tests as the built-in ones (they need pytest, from the ``dev`` extra).

    from ragline.testing.store import StoreContract

    class TestMyStore(StoreContract):
        @pytest.fixture()
        def make_store(self, tmp_path):
            return lambda: MyStore(tmp_path / "s")

        @pytest.fixture()
        def reopen(self, tmp_path):
            return lambda: MyStore(tmp_path / "s")
"""

__all__ = ["embedder", "state", "store"]
