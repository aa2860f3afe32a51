"""Discrete-event simulation of twin definitions: engine, KPI collection, replications.

Public entry points (implemented in :mod:`caretwin.sim.runner`)::

    run_replication(defn, replication, seed_seq, trace=False) -> (ReplicationResult, Trace | None)
    simulate(defn, replications=None, seed=None, workers=1, scenario_label="baseline",
             progress=None) -> SimulationResult
    trace_run(defn, seed, horizon_h) -> Trace      # one replication with the event trace
"""
