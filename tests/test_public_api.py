import ragline


def test_public_surface_is_what_we_mean():
    assert sorted(ragline.__all__) == sorted([
        "Chunk", "Document", "Engine", "EngineConfig", "Hit", "IngestReport", "RaglineError",
        "SourceItem", "open_embedder", "open_store", "__version__"])
    for name in ragline.__all__:
        assert getattr(ragline, name) is not None
