"""Fuzz `auth.verify`: whatever a client sends as its token, verify returns a
Principal only for a genuinely valid token and otherwise raises the auth package's
MissingToken ("Authentication failed") or InvalidToken ("Invalid token"), nothing else.

Deviations found (all fixed) are regression tests at the end of this module; each
names its finding in docs/fuzz-findings.md.
"""

import base64
import json
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import strategies as st

from auth import InvalidToken, VerificationKeys, verify
from auth.verify import MAX_TOKEN_LENGTH
from jobformat import InvalidNotification, NotificationDecoder
from tests.fuzz.budget import run_property
from tests.fuzz.tokens import (
    ALG_NONE_VARIANTS,
    AUDIENCE,
    CONFIGS,
    ISSUER,
    NOW,
    PUBLIC_DER,
    PUBLIC_PEM,
    SECRET,
    assemble,
    assert_refusal,
    b64,
    bomb,
    expected_principal,
    hmac_signature,
    keys,
    signed,
)

config_names = st.sampled_from(sorted(CONFIGS))

# --- strategies ---

json_leaves = (
    st.none()
    | st.booleans()
    | st.integers(-(10**30), 10**30)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12)
)
json_values = st.recursive(
    json_leaves,
    lambda children: st.lists(children, max_size=3)
    | st.dictionaries(st.text(max_size=6), children, max_size=3),
    max_leaves=8,
)
# str.isprintable() is false for these categories (and for all Z* but the ASCII space).
_NOT_PRINTABLE = ("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp", "Zs")
printable_text = st.text(
    st.characters(exclude_categories=_NOT_PRINTABLE, include_characters=" "),
    min_size=1,
    max_size=20,
)
long_printable = st.integers(250, 300).map(lambda n: "u" * n)

# Mostly valid values, plus every kind of wrong one.
identifiers = st.one_of(
    printable_text,
    printable_text,
    st.integers(-(10**6), 10**12),
    st.integers(-(10**300), 10**300),
    long_printable,
    st.sampled_from(["", "a\nb", "tab\there", "nul\x00", "\u202eevil", "\u00a0", "\x7f"]),
    st.floats(allow_nan=False, allow_infinity=False),
    json_values,
)
future = st.integers(int(NOW) + 1, int(NOW) + 10**9) | st.floats(NOW + 1e-3, NOW + 1e12)
# NaN, ±Infinity and integers too big for a float are findings F2 (see the regression tests).
numeric_dates = st.one_of(
    future,
    future,
    future,
    future,
    st.integers(int(NOW) - 10**6, int(NOW)),
    st.sampled_from([NOW, NOW - 1e-6, NOW + 1e-6, 0, -1, 1e300, -1e300]),
    st.integers(-(10**300), 10**300),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from(["1900000000", "tomorrow", "", "NaN", "Infinity"]),
    json_values.filter(lambda value: not isinstance(value, bool)),
)
audiences = st.one_of(
    st.just(AUDIENCE), st.just([AUDIENCE, "other"]), st.just("other"), st.just([1, AUDIENCE]),
    st.just({"aud": AUDIENCE}), json_values,
)
issuers = st.one_of(
    st.just(ISSUER), st.just([ISSUER]), st.just("https://evil.example"), json_values
)
_CLAIMS: dict[str, st.SearchStrategy[Any]] = {
    "sub": identifiers,
    "uid": identifiers,
    "department": identifiers,
    "org": identifiers,
    "exp": numeric_dates,
    "nbf": numeric_dates,
    "aud": audiences,
    "iss": issuers,
}
_USUALLY_PRESENT = {"sub", "uid", "exp", "aud", "iss"}
_EIGHT_IN_TEN = st.integers(0, 9).map(lambda n: n < 8)
_ONE_IN_TEN = st.integers(0, 9).map(lambda n: n == 7)  # not 0 or 9: those come up more
_EXTRA_CLAIMS = st.dictionaries(st.text(max_size=6), json_values, max_size=2)
_PADDING = st.integers(5_500, 6_500)


@st.composite
def claim_sets(draw: st.DrawFn) -> dict[str, Any]:
    claims: dict[str, Any] = draw(_EXTRA_CLAIMS)
    for name, values in _CLAIMS.items():
        if draw(_EIGHT_IN_TEN if name in _USUALLY_PRESENT else st.booleans()):
            claims[name] = draw(values)
    if draw(_ONE_IN_TEN):
        # Pad the token to around MAX_TOKEN_LENGTH, on either side of it.
        claims["pad"] = "p" * draw(_PADDING)
    return claims


# --- 1. Arbitrary values: never a crash, never a Principal ---

_TOKEN_ALPHABET = (
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.=+/ \t\r\n\x00é"
)
arbitrary_tokens = st.one_of(
    json_values,
    st.floats(),  # NaN and infinities as the token itself
    st.text(max_size=300),
    st.text(st.sampled_from(_TOKEN_ALPHABET), max_size=400),
    st.binary(max_size=300).map(lambda raw: raw.decode("latin-1")),
    st.builds(
        lambda size, fill: (fill * size)[:size],
        st.integers(MAX_TOKEN_LENGTH - 2, 4 * 1024 * 1024),
        st.sampled_from(["a", ".", "eyJhbGciOiJIUzI1NiJ9.", "=", "\x00", "é"]),
    ),
)


def must_be_refused(what: str, shown: int) -> Callable[[tuple[str, object]], None]:
    """A property check: verifying the token under the named config refuses it the
    contract's way (`assert_refusal`)."""

    def check(case: tuple[str, object]) -> None:
        config, token = case
        try:
            principal = verify(token, CONFIGS[config], NOW)
        except Exception as error:
            assert_refusal(error, token)
        else:
            raise AssertionError(f"accepted {what}{token!r:.{shown}} as {principal}")

    return check


def test_verify_survives_arbitrary_values() -> None:
    run_property(
        "verify: arbitrary values and huge strings",
        st.tuples(config_names, arbitrary_tokens),
        must_be_refused("", 100),
    )


# --- 2. Forged structures: never a crash, never a Principal ---

kid_values = st.one_of(
    st.sampled_from([
        "../../../../etc/passwd", "..\\..\\windows\\win.ini", "/dev/zero", "file:///etc/shadow",
        "' OR '1'='1", "1; DROP TABLE keys;--", "\x00", "%00", "${jndi:ldap://127.0.0.1/x}",
    ]),
    st.integers(1_000, 12_000).map(lambda n: "k" * n),
    json_values,
)
alg_values = st.one_of(
    st.sampled_from([
        "HS256", "HS384", "HS512", "RS256", "RS512", "ES256", "PS256", "EdDSA",
        "hs256", "HS256 ", " HS256", "HS256\x00", "", *ALG_NONE_VARIANTS,
    ]),
    json_values,
)
header_objects = st.fixed_dictionaries(
    {"alg": alg_values},
    optional={
        "typ": json_values, "kid": kid_values, "crit": json_values, "b64": json_values,
        "jku": st.just("http://127.0.0.1:1/jwks.json"), "x5u": st.just("file:///etc/passwd"),
        "jwk": json_values, "cty": json_values, "zip": st.just("DEF"),
    },
)
json_bombs = st.builds(bomb, st.integers(100, 2_800), st.sampled_from(["[", "{"]))
headers = st.one_of(
    header_objects.map(lambda header: json.dumps(header).encode()),
    header_objects.map(lambda header: json.dumps(header).encode()),
    json_values.map(lambda value: json.dumps(value).encode()),
    json_bombs,
    st.builds(lambda depth: b'{"alg":"HS256","x":' + bomb(depth) + b"}", st.integers(100, 2_700)),
    st.binary(max_size=40),
)
payloads = st.one_of(
    claim_sets().map(lambda claims: json.dumps(claims).encode()),
    json_values.map(lambda value: json.dumps(value).encode()),
    json_bombs,
    st.binary(max_size=40),
)
forged_signatures = st.one_of(
    st.just(b""),
    st.binary(min_size=1, max_size=300),
    st.sampled_from(["HS256", "HS384", "HS512"]).map(lambda alg: (alg, PUBLIC_PEM.encode())),
    st.sampled_from(["HS256", "HS512"]).map(lambda alg: (alg, PUBLIC_DER)),
    st.just(("HS256", b"not-the-secret")),
)


@st.composite
def encoded_segments(draw: st.DrawFn, raw: bytes) -> str:
    how = draw(st.integers(0, 9))  # 5..9: well encoded, so the signature check is reached
    if how == 0:
        return base64.urlsafe_b64encode(raw).decode()  # with '=' padding
    if how == 1:
        return base64.b64encode(raw).decode()  # standard alphabet: + and /
    if how == 2:
        return b64(raw) + "=" * draw(st.integers(1, 5))  # too much padding
    if how == 3:
        encoded = b64(raw)
        cut = draw(st.integers(0, len(encoded)))
        return encoded[:cut] + draw(st.sampled_from([" ", "\n", "!", "é", "\x00", ".."])) + (
            encoded[cut:]
        )
    if how == 4:
        return raw.decode("latin-1")  # not encoded at all
    return b64(raw)


@st.composite
def forged_tokens(draw: st.DrawFn) -> str:
    header, payload = draw(headers), draw(payloads)
    segments = [draw(encoded_segments(header)), draw(encoded_segments(payload))]
    signing_input = ".".join(segments).encode()
    signature = draw(forged_signatures)
    if isinstance(signature, tuple):
        alg, secret = signature
        signature = hmac_signature(alg, signing_input, secret)
    segments.append(draw(encoded_segments(signature)))
    extra = draw(st.lists(st.sampled_from(["", "e30", "x", b64(b"{}")]), max_size=3))
    segments = draw(st.sampled_from([segments + extra, segments[:2], segments[:1]]))
    return draw(st.sampled_from(["", " ", "Bearer ", "\n"])) + ".".join(segments) + draw(
        st.sampled_from(["", " ", "\n", "."])
    )


def test_verify_survives_forged_structures() -> None:
    run_property(
        "verify: forged token structures",
        st.tuples(config_names, forged_tokens()),
        must_be_refused("a forged token ", 200),
    )


# --- 3. Genuinely signed tokens: a Principal exactly when the claims are valid ---


_ONE_IN_FOUR = st.integers(0, 3).map(lambda n: n == 2)
_KIDS = st.text(max_size=20) | kid_values
_NOT_OBJECT_PAYLOADS = json_bombs | json_values.map(lambda value: json.dumps([value]).encode())


@st.composite
def genuinely_signed(draw: st.DrawFn) -> tuple[str, str, object]:
    config = draw(config_names)
    alg = draw(st.sampled_from(CONFIGS[config].algorithms))
    header = {"alg": alg, "typ": "JWT"}
    if draw(_ONE_IN_FOUR):
        header["kid"] = draw(_KIDS)
    claims: object = draw(claim_sets())
    payload = json.dumps(claims).encode()
    if draw(_ONE_IN_TEN):
        # Signed payloads that are not an object at all, or bombs.
        claims = None
        payload = draw(_NOT_OBJECT_PAYLOADS)
    if not isinstance(header.get("kid", ""), str):
        claims = None  # a JWS header whose `kid` is not a string is malformed (PyJWT)
    return config, assemble(json.dumps(header).encode(), payload), claims


def test_genuinely_signed_tokens_get_exactly_the_contract_verdict() -> None:
    def check(case: tuple[str, str, object]) -> None:
        config, token, claims = case
        keys = CONFIGS[config]
        expected = expected_principal(claims, keys, len(token))
        try:
            principal = verify(token, keys, NOW)
        except Exception as error:
            assert_refusal(error, token)
            assert expected is None, f"refused ({error}) valid claims {claims!r:.300}"
        else:
            assert principal == expected, f"{claims!r:.300}: got {principal}, want {expected}"

    run_property("verify: validly signed, arbitrary claims", genuinely_signed(), check)


# --- 4. The algorithm allow-list: nothing outside it, however it is signed ---

# Valid under every fuzzed configuration (test_the_fuzzed_configurations_accept_...).
VALID_CLAIMS = {"sub": "42", "uid": "42", "exp": NOW + 60, "aud": AUDIENCE, "iss": ISSUER}


def assert_accepted(token: str, config: str) -> None:
    """A refusal test's control: the same token without the defect under test passes,
    so the test fails if verify refuses more than it should (or everything)."""
    principal = verify(token, CONFIGS[config], NOW)
    assert principal.user_id == "42" and principal.expires_at > NOW, principal


@st.composite
def outside_allow_list(draw: st.DrawFn) -> tuple[str, str]:
    config = draw(config_names)
    allowed = CONFIGS[config].algorithms
    alg = draw(
        st.one_of(
            st.sampled_from(ALG_NONE_VARIANTS),
            st.sampled_from(["HS256", "HS384", "HS512", "RS256", "RS384", "PS256", "ES256"]),
            st.sampled_from(allowed).map(str.lower),
            st.sampled_from(allowed).map(lambda name: name + " "),
            st.text(max_size=10),
        ).filter(lambda name: name not in allowed)
    )
    # Genuinely signed for its alg where the issuer has a key for it (a token that an
    # allowed-list bypass would let through), otherwise signed with nothing.
    return config, signed(VALID_CLAIMS, alg)


def test_algorithms_outside_the_allow_list_are_refused() -> None:
    def check(case: tuple[str, str]) -> None:
        config, token = case
        with pytest.raises(InvalidToken) as refused:
            verify(token, CONFIGS[config], NOW)
        assert refused.value.reason == "algorithm"
        assert refused.value.message == "Invalid token"
        # The same claims under an allowed algorithm pass: the alg alone was refused.
        assert_accepted(signed(VALID_CLAIMS, CONFIGS[config].algorithms[0]), config)

    run_property("verify: algorithm outside the allow-list", outside_allow_list(), check)


# --- Deterministic attacks (every variant, every configuration) ---


@pytest.mark.parametrize("config", sorted(CONFIGS))
@pytest.mark.parametrize("alg", ALG_NONE_VARIANTS)
def test_alg_none_in_every_case_is_refused(config: str, alg: str) -> None:
    header = json.dumps({"alg": alg, "typ": "JWT"}).encode()
    unsigned = assemble(header, json.dumps(VALID_CLAIMS).encode(), sign=False)
    assert unsigned.endswith(".")  # an empty signature
    # With its empty signature, and without it (two segments: not a JWS at all).
    for token, reason in ((unsigned, "algorithm"), (unsigned.rstrip("."), "malformed")):
        with pytest.raises(InvalidToken) as refused:
            verify(token, CONFIGS[config], NOW)
        assert refused.value.message == "Invalid token"
        assert refused.value.reason == reason
    assert_accepted(signed(VALID_CLAIMS, CONFIGS[config].algorithms[0]), config)


PEM_SECRETS = {
    "pem": PUBLIC_PEM.encode(),
    "pem without newline": PUBLIC_PEM.strip().encode(),
    "pem with crlf": PUBLIC_PEM.replace("\n", "\r\n").encode(),
    "der": PUBLIC_DER,
}


@pytest.mark.parametrize("config", ["RS256", "HS256+RS256"])
@pytest.mark.parametrize("secret", sorted(PEM_SECRETS))
@pytest.mark.parametrize("alg", ["HS256", "HS384", "HS512"])
def test_hmac_signed_with_the_public_key_is_refused(config: str, secret: str, alg: str) -> None:
    """RS/HS confusion: the public key (which anyone may have) used as the HMAC secret."""
    header = b64(json.dumps({"alg": alg, "typ": "JWT"}).encode())
    body = b64(json.dumps(VALID_CLAIMS).encode())
    signature = hmac_signature(alg, f"{header}.{body}".encode(), PEM_SECRETS[secret])
    with pytest.raises(InvalidToken) as refused:
        verify(f"{header}.{body}.{b64(signature)}", CONFIGS[config], NOW)
    allowed = alg in CONFIGS[config].algorithms
    assert refused.value.reason == ("signature" if allowed else "algorithm")
    if allowed:  # the same header and claims, HMAC'd with the real secret, pass
        genuine = hmac_signature(alg, f"{header}.{body}".encode(), SECRET.encode())
        assert_accepted(f"{header}.{body}.{b64(genuine)}", config)
    else:  # the same claims under the configured algorithm pass
        assert_accepted(signed(VALID_CLAIMS, CONFIGS[config].algorithms[0]), config)


def test_the_fuzzed_configurations_accept_their_own_valid_tokens() -> None:
    """The properties above mean nothing if no token could ever pass."""
    for name, config in CONFIGS.items():
        for alg in config.algorithms:
            principal = verify(signed(VALID_CLAIMS, alg), config, NOW)
            assert principal.user_id == "42" and principal.expires_at == NOW + 60, name


# --- Findings, now fixed: regression tests (see FINDINGS) ---

FINDINGS = "docs/fuzz-findings.md"


@pytest.mark.parametrize(
    "token",
    ["\udcff\udcfe", "eyJhbGciOiJIUzI1NiJ9.\udcff.x", signed(VALID_CLAIMS) + "\ud800"],
    ids=["only-surrogates", "surrogate-payload", "valid-plus-surrogate"],
)
def test_token_with_lone_surrogates_is_invalid_token(token: str) -> None:
    """F1: aiohttp decodes header bytes that are not UTF-8 with surrogateescape, so an
    `Authorization: Bearer <bytes>` header reaches verify as such a string."""
    with pytest.raises(InvalidToken) as refused:
        verify(token, CONFIGS["HS256"], NOW)
    assert refused.value.reason == "malformed"
    assert_accepted(signed(VALID_CLAIMS), "HS256")  # valid-plus-surrogate without it


def _raw_claims(text: str) -> str:
    header = json.dumps({"alg": "HS256", "typ": "JWT"}).encode()
    return assemble(header, text.encode())


_SOUND_EXP = '{"sub": "42", "exp": 1900000000}'
_SOUND_NBF = '{"sub": "42", "exp": 1900000000, "nbf": 1700000000}'


@pytest.mark.parametrize(
    ("claims", "reason", "sound"),
    [
        ('{"sub": "42", "exp": NaN}', "malformed", _SOUND_EXP),
        ('{"sub": "42", "exp": Infinity}', "malformed", _SOUND_EXP),
        ('{"sub": "42", "exp": 1e400}', "malformed", _SOUND_EXP),
        ('{"sub": "42", "exp": 1' + "0" * 400 + "}", "malformed", _SOUND_EXP),
        ('{"sub": "42", "exp": 1900000000, "nbf": NaN}', "not_yet_valid", _SOUND_NBF),
        ('{"sub": "42", "exp": 1900000000, "nbf": true}', "not_yet_valid", _SOUND_NBF),
    ],
    ids=["exp-NaN", "exp-Infinity", "exp-1e400", "exp-huge-int", "nbf-NaN", "nbf-true"],
)
def test_exp_and_nbf_must_be_finite_numbers(claims: str, reason: str, sound: str) -> None:
    """F2; `sound` is the same payload with a finite number in place of the bad one."""
    with pytest.raises(InvalidToken) as refused:
        verify(_raw_claims(claims), CONFIGS["HS256"], NOW)
    assert refused.value.reason == reason
    assert_accepted(_raw_claims(sound), "HS256")


def _mismatched_configs() -> dict[str, tuple[VerificationKeys, str, str]]:
    """Case -> (a key set whose key does not fit the token's allowed alg, the token,
    the configuration under which that same token is accepted)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    ec_pem = (
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        .decode()
    )
    broken_pem = "-----BEGIN PUBLIC KEY-----\nnot base64\n-----END PUBLIC KEY-----\n"
    return {
        # Any client picks `alg: RS256`; the configured key is an EC key.
        "EC key, RS256 allowed": (
            keys(JWT_PUBLIC_KEY=ec_pem, JWT_ALGORITHMS="ES256,RS256"),
            signed(VALID_CLAIMS, "RS256"),
            "RS256",
        ),
        "JWT_SECRET holds a PEM": (
            keys(JWT_SECRET=PUBLIC_PEM), signed(VALID_CLAIMS, "HS256"), "HS256"
        ),
        "unparsable PEM": (
            keys(JWT_PUBLIC_KEY=broken_pem, JWT_ALGORITHMS="RS256"),
            signed(VALID_CLAIMS, "RS256"),
            "RS256",
        ),
    }


MISMATCHED = _mismatched_configs()


@pytest.mark.parametrize("case", sorted(MISMATCHED))
def test_key_that_does_not_fit_the_algorithm_is_invalid_token(case: str) -> None:
    """F3: the key's own label, not an exception escaping verify."""
    config, token, fitting = MISMATCHED[case]
    with pytest.raises(InvalidToken) as refused:
        verify(token, config, NOW)
    assert refused.value.reason == "key"
    assert_accepted(token, fitting)


@pytest.mark.parametrize(
    ("claims", "refused"),
    [
        ({"sub": "John Smith"}, "malformed_sub"),
        ({"sub": ":42"}, "malformed_sub"),
        ({"sub": "42", "department": "Sales EU"}, "malformed_department"),
        ({"sub": "John.Smith"}, None),
        ({"sub": "4:2", "department": "Sales-EU"}, None),
        ({"sub": "Jörg", "department": "Ventes/Île"}, None),
    ],
    ids=[
        "space-in-user", "leading-colon", "space-in-department",
        "dotted-user", "inner-colon-and-dash", "non-ascii",
    ],
)
def test_accepted_claims_give_rooms_producers_can_address(
    claims: dict[str, Any], refused: str | None
) -> None:
    """F5: a Principal whose room a job's `rooms` can never name is a user who connects
    fine and never receives anything: such claims are refused; the others are accepted
    and each of their rooms is one a job can address."""
    token = signed({**claims, "exp": NOW + 60})
    if refused is not None:
        with pytest.raises(InvalidToken) as refusal:
            verify(token, CONFIGS["HS256"], NOW)
        assert refusal.value.reason == refused
        return
    principal = verify(token, CONFIGS["HS256"], NOW)
    assert principal.user_id == str(claims["sub"])
    decoder = NotificationDecoder(["/data_owner"], 16384, "bull")
    for room in principal.rooms:
        job = {"namespace": "/data_owner", "rooms": [room], "id": 1}
        try:
            decoder.decode("critical-events", "1", "records:updated", job, 0)
        except InvalidNotification as error:
            raise AssertionError(f"no job can address room {room!r}: {error}") from None
