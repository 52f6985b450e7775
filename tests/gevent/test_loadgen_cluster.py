"""Splitting the cluster-wide target rate and weight budget between live workers."""

from locust.env import Environment
from locust.event import Events
from locust.runners import STATE_MISSING, STATE_RUNNING, MasterRunner, WorkerNode, WorkerNodes, WorkerRunner

from loadgen.messages import SHARE as SHARE_MESSAGE
from loadgen.pacing.cluster_budget import Cluster, Share, _share_from
from loadgen.pacing.weight_limiter import WeightLimiter


class RecordingMaster(MasterRunner):
    """A master without sockets: it keeps the messages it would send."""

    def __init__(self, environment: Environment) -> None:  # no super().__init__: nothing to bind
        self.environment = environment
        self.greenlet = None
        self.clients = WorkerNodes()
        self.sent: list[tuple[str, dict, str | None]] = []

    def send_message(self, msg_type, data=None, client_id=None):
        self.sent.append((msg_type, data, client_id))


def master_with(*worker_ids: str) -> tuple[Cluster, RecordingMaster]:
    environment = Environment(events=Events())
    runner = environment.runner = RecordingMaster(environment)
    for worker_id in worker_ids:
        runner.clients[worker_id] = WorkerNode(worker_id, state=STATE_RUNNING)
    return Cluster(environment), runner


def test_a_local_run_takes_the_whole_target_and_budget():
    environment = Environment(events=Events())
    environment.create_local_runner()
    cluster = Cluster(environment)
    limiter = WeightLimiter(1.0, 60)
    cluster.attach_limiter("binance", limiter, 480.0)
    cluster.set_target_rps(100.0)
    assert cluster.share == Share(1.0, 100.0)
    assert cluster.pacer.rate == 100.0 and limiter.budget == 480.0
    cluster.set_target_rps(None)
    assert not cluster.pacer.active


def test_the_master_splits_over_live_workers_and_resplits_when_one_goes_missing():
    cluster, runner = master_with("w1", "w2", "w3")
    cluster.set_target_rps(90.0)
    assert sorted(runner.sent, key=lambda m: m[2]) == [
        (SHARE_MESSAGE, {"fraction": 1 / 3, "total_rps": 90.0, "exchange_rps": {}}, w) for w in ("w1", "w2", "w3")
    ]
    runner.sent.clear()
    cluster.distribute()
    assert runner.sent == []  # nothing changed, nothing sent
    runner.clients["w3"].state = STATE_MISSING
    cluster.distribute()
    assert sorted(runner.sent, key=lambda m: m[2]) == [
        (SHARE_MESSAGE, {"fraction": 0.5, "total_rps": 90.0, "exchange_rps": {}}, w) for w in ("w1", "w2")
    ]
    runner.sent.clear()
    runner.clients["w4"] = WorkerNode("w4", state=STATE_RUNNING)  # a new worker joins
    cluster.distribute()
    assert {m[2] for m in runner.sent} == {"w1", "w2", "w4"}
    assert {m[1]["fraction"] for m in runner.sent} == {1 / 3}


def test_a_worker_applies_its_share_to_the_pacer_and_the_weight_limiters():
    environment = Environment(events=Events())
    runner = environment.runner = WorkerRunner.__new__(WorkerRunner)
    runner.environment, runner.greenlet = environment, None
    cluster = Cluster(environment)
    limiter = WeightLimiter(1.0, 60)
    cluster.attach_limiter("binance", limiter, 4800.0)
    cluster.set_target_rps(500.0)  # only the master decides: a worker ignores this
    assert not cluster.pacer.active
    cluster.apply(Share(0.25, 200.0))
    assert cluster.pacer.rate == 50.0 and limiter.budget == 1200.0
    later = WeightLimiter(1.0, 60)  # a runtime built at the next test start gets the current share at once
    cluster.attach_limiter("binance", later, 4800.0)
    assert later.budget == 1200.0


def test_an_exchange_with_a_target_of_its_own_gets_its_own_schedule_on_every_worker():
    cluster, runner = master_with("w1", "w2")
    cluster.set_target_rps(0.0)
    cluster.set_exchange_rps("kraken", 6.0)
    assert {m[2]: m[1] for m in runner.sent if m[1]["exchange_rps"]} == {
        w: {"fraction": 0.5, "total_rps": 0.0, "exchange_rps": {"kraken": 6.0}} for w in ("w1", "w2")
    }
    environment = Environment(events=Events())
    worker = environment.runner = WorkerRunner.__new__(WorkerRunner)
    worker.environment, worker.greenlet = environment, None
    on_worker = Cluster(environment)
    on_worker.apply(_share_from(runner.sent[-1][1]))
    assert on_worker.pacer_for("kraken").rate == 3.0  # half of the exchange's own target
    assert on_worker.pacer_for("binance") is on_worker.pacer and on_worker.pacer.rate == 0.0
    on_worker.apply(Share(0.5, 0.0))  # its target lifted: back to the run's schedule
    assert on_worker.pacer_for("kraken") is on_worker.pacer


def test_exchange_targets_end_with_the_test():
    environment = Environment(events=Events())
    environment.create_local_runner()
    cluster = Cluster(environment)
    cluster.set_exchange_rps("coinbase", 0.0)
    assert cluster.pacer_for("coinbase") is not cluster.pacer
    cluster.drop_exchange_targets()
    assert cluster.pacer_for("coinbase") is cluster.pacer


def test_users_waiting_on_a_dropped_schedule_stop_instead_of_sending():
    """A master's test ends before its workers stop their users: a worker that drops the exchange's schedule
    (rate 0 at the end of a ramp) must not let the users waiting on it send all at once."""
    import gevent

    from loadgen.pacing.arrivals import PacerClosed

    environment = Environment(events=Events())
    environment.create_local_runner()
    cluster = Cluster(environment)
    cluster.set_exchange_rps("coinbase", 0.0)
    waiting = gevent.spawn(cluster.pacer_for("coinbase").start)
    gevent.sleep(0.01)
    cluster.drop_exchange_targets()
    waiting.join(timeout=1)
    assert isinstance(waiting.exception, PacerClosed)
