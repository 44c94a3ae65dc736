"""Local services and their processes.

==============  ==============================================================================
``supervisor``  one way to start, recognise and stop a service process, and to check its port
``anvil``       a local Anvil chain, attached (tests, benchmarks) or detached (`node up`)
``stack``       `chaincrm node up|down|status`: Anvil plus the embedded IPFS node
==============  ==============================================================================
"""
