"""Verifies a Bulkhead signed statement (a DSSE envelope) with the Secure
Systems Lab's own library (securesystemslib, from PyPI), against the keys of
a JWK Set as the console publishes them. Prints the key ids whose signatures
held and the payload type; exits 1 when none holds.

usage: dsse_verify.py ENVELOPE.json JWKS.json
"""

import base64
import json
import sys

from securesystemslib.dsse import Envelope
from securesystemslib.exceptions import VerificationError
from securesystemslib.signer import SSlibKey


def keys_of(jwks):
    keys = []
    for k in jwks["keys"]:
        if k.get("kty") != "OKP" or k.get("crv") != "Ed25519":
            continue
        x = base64.urlsafe_b64decode(k["x"] + "=" * (-len(k["x"]) % 4))
        keys.append(SSlibKey(k["kid"], "ed25519", "ed25519", {"public": x.hex()}))
    return keys


def main():
    with open(sys.argv[1]) as f:
        envelope = Envelope.from_dict(json.load(f))
    with open(sys.argv[2]) as f:
        keys = keys_of(json.load(f))
    try:
        accepted = envelope.verify(keys, 1)
    except VerificationError as e:
        print(f"not verified: {e}")
        sys.exit(1)
    print("verified by " + ", ".join(sorted(accepted)))
    print("payload type " + envelope.payload_type)


main()
