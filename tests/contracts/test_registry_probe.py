import brownie
from brownie import chain
from eth_account import Account
from tests.contracts.helpers import *

def test_probe(registry, agent, manager, customer, stranger, register):
    cid = register()
    try:
        registry.updateProfile(cid, random_hash(), random_hash(), random_hash(), {"from": agent})
    except brownie.exceptions.VirtualMachineError as e:
        print("MSG1", repr(e.revert_msg))
    try:
        registry.updateProfile(cid, ZERO_HASH, random_hash(), random_hash(), {"from": agent})
    except brownie.exceptions.VirtualMachineError as e:
        print("MSG2", repr(e.revert_msg))
    try:
        registry.setConsent(cid, 4, True, {"from": stranger})
    except brownie.exceptions.VirtualMachineError as e:
        print("MSG3", repr(e.revert_msg))
    tx = registry.proposeWallet(cid, customer, {"from": agent})
    print(tx.events)
    tx = registry.acceptWallet(cid, public_key_of(customer), {"from": customer})
    print(tx.events, type(tx.events["WalletAccepted"]["publicKey"]))
    print(registry.customerOf(cid), registry.readersOf(cid))
    print(chain.id)
