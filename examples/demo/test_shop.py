"""The demo suite: tests that assert on the traces the shop produces."""

from shop import Declined, checkout


def test_checkout_produces_one_trace(trace_store):
    assert checkout("ana", ["book", "pen"], "4111111111111111") == "receipt-1111"

    (root,) = trace_store.query_spans(kind="SERVER")
    spans = trace_store.get_trace(root.trace_id)
    assert [s.name for s in spans] == ["POST /checkout", "inventory.reserve", "payments.charge"]
    assert root.attributes["cart.items"] == ("book", "pen")
    assert trace_store.recent_failures() == []


def test_declined_card_leaves_failed_spans(trace_store):
    assert checkout("bob", ["lamp"], "0000000000000002") is None

    # The charge span recorded the exception; the server span set error.type.
    declined = trace_store.filter_by_error_type(Declined)
    assert [s.name for s in declined] == ["POST /checkout", "payments.charge"]
    assert declined[1].exception_message == "card ending 0002 declined"
    assert trace_store.recent_failures() == declined


def test_query_by_attribute(trace_store):
    for user in ("ana", "bob", "ana"):
        checkout(user, ["tea"], "4111111111111111")
    assert len(trace_store.filter_by_attribute("user.id", "ana")) == 2
    assert len(trace_store.session) >= 9  # the whole run's spans so far
