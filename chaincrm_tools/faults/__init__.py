"""The fault suite: nothing lost, nothing duplicated, whatever fails while records are written.

==============  ==============================================================================
``harness``     the run: services, processes, the faults as the records progress, the figures
``services``    Anvil (1-second blocks, state dumped every few seconds) and the IPFS node, which
                the run kills and restarts; every child process, ended however the run ends
``world``       the deployment, agent keys and customers the writers write about
``writer``      a writer process (``python -m chaincrm_tools.faults.writer``): seal, store, log
``anchorer``    the Merkle queue's process (``python -m chaincrm_tools.faults.anchorer``)
``intents``     what each writer meant to log, written before it is sent
``injectors``   the faults: Anvil killed between dumps, the IPFS node killed mid-upload, a
                process killed with SIGKILL, transactions dropped from the mempool
``checker``     every record on-chain exactly once, every document fetchable, no orphaned pin
                after the sweep, the run's index equal to a fresh rebuild
``cli``         ``chaincrm bench faults`` (imports click only)
==============  ==============================================================================

The short version runs in ``./run test`` (tests/faults); the full one with ``chaincrm bench faults``.
"""
