# Loaded by python at start-up when this folder is on PYTHONPATH (MotoServer.start with
# crossAccountSnapshots): closes one emulator gap for the share-snapshot tests.
#
# moto resolves a snapshot ARN in CopyDB(Cluster)Snapshot / RestoreDB… inside the caller's own
# account, whatever account the ARN names, so the target account cannot copy a snapshot the
# source account shared with it. RDS resolves the ARN in the account it names and allows it when
# the snapshot's `restore` attribute lists the caller's account (or "all"); this patch does the
# same, and answers "not found" otherwise (also after the share is removed), as RDS does.
#
# Written against both motos the locator can return: the shared copy (../shared/tools/moto,
# commit 0af643a5) and moto 5.2.1 (`moto_server` on the PATH). Only `RDSBackend.get_snapshot`,
# `rds_backends` and the snapshots' `attributes["restore"]` are used, which both have; the ARN
# is split here because 5.2.1 has no `moto.rds.utils.split_arn` (test:
# test/rehearsal/moto-cross-account.integration.test.ts runs against each moto found).
import os
import sys

sys.path.insert(0, os.getcwd())  # the shared moto copy runs from its unpacked folder
try:
    from moto.rds import models as _rds

    def _split_arn(arn):
        # arn:aws:rds:<region>:<account>:<snapshot|cluster-snapshot>:<name>; an automated
        # snapshot's name has a colon of its own (rds:<instance>-<time>), so keep the rest whole.
        parts = arn.split(":", 6)
        return parts[3], parts[4], parts[5], parts[6]

    _own_account_lookup = _rds.RDSBackend.get_snapshot

    def _get_snapshot(self, identifier, resource_type, not_found_exception):
        if identifier.startswith("arn:"):
            region, account, _, name = _split_arn(identifier)
            if account != self.account_id:
                snapshot = _rds.rds_backends[account][region].resource_map[resource_type].get(name)
                if snapshot is None or not ({self.account_id, "all"} & set(snapshot.attributes.get("restore", []))):
                    raise not_found_exception(identifier)
                return snapshot
        return _own_account_lookup(self, identifier, resource_type, not_found_exception)

    _rds.RDSBackend.get_snapshot = _get_snapshot
    sys.stderr.write("rds-cutover: cross-account snapshot copies enabled in moto\n")
except Exception as error:  # an unexpected moto version: say so, the test then fails visibly
    sys.stderr.write("rds-cutover: cross-account snapshot patch NOT loaded: %r\n" % (error,))
