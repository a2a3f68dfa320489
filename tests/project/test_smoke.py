from govern.services import catalogue, users
from tests.conftest import SAMPLE


def test_register_and_list_on_each_backend(cat, sample_artifacts):
    detail = catalogue.register_version(
        cat.ctx("alice"),
        SAMPLE / "credit-risk-1.0.0.card.yaml",
        artifact=sample_artifacts / "credit-risk-1.0.0.skops",
    )
    assert detail.ref == "credit-risk@1.0.0"
    assert detail.artifact.format == "skops"
    rows = catalogue.list_versions(cat.ctx("victor"))
    assert [r.ref for r in rows] == ["credit-risk@1.0.0"]
    assert {u.name for u in users.list_users(cat.ctx())} >= {"alice", "bob", "admin"}
