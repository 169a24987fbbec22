"""Sign-up, login and token shapes."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from storage.models import USERNAME_KEY_LENGTH
from storage.usernames import username_key
from web.schemas.common import NO_NUL, Request
from web.security.password_policy import password_problem
from web.security.passwords import MAX_PASSWORD_BYTES

# `$` rather than `\Z`, which JSON Schema's regexes do not know (the document must say what is accepted); the
# one thing `$` lets through in Python, a trailing newline, `_short_key` refuses.
USERNAME = validate.Regexp(r"^[\w.@+-]+$", error="Letters, digits and @/./+/-/_ only.")


def _short_key(username: str) -> None:
    if username.endswith("\n"):
        raise ValidationError("Letters, digits and @/./+/-/_ only.")
    if len(username_key(username)) > USERNAME_KEY_LENGTH:
        raise ValidationError("Too long once normalised.")


def _bcrypt_sized(password: str) -> None:
    if len(password.encode()) > MAX_PASSWORD_BYTES:
        raise ValidationError(f"At most {MAX_PASSWORD_BYTES} bytes in UTF-8.")


class SignupRequest(Request):
    username = fields.String(required=True, validate=[validate.Length(1, 150), USERNAME, _short_key])
    email = fields.Email(required=True, validate=[validate.Length(max=254), NO_NUL])
    password = fields.String(
        required=True,
        validate=[validate.Length(min=8), _bcrypt_sized, NO_NUL],
        load_only=True,
        metadata={
            "description": "8+ characters, at most 72 bytes of UTF-8; not the username, not all spaces, "
            "not one of the most common passwords"
        },
    )

    @validates_schema
    def _policy(self, data: dict[str, Any], **_: Any) -> None:
        if "password" in data and "username" in data:
            problem = password_problem(data["password"], data["username"])
            if problem:
                raise ValidationError(problem, "password")


class LoginRequest(Request):
    username = fields.String(required=True, validate=[validate.Length(1, 150), NO_NUL])
    password = fields.String(required=True, validate=[validate.Length(1, 1024), NO_NUL], load_only=True)


class RefreshRequest(Request):
    refresh = fields.String(required=True, validate=[validate.Length(1, 4096), NO_NUL])


class User(Schema):
    id = fields.Integer(required=True)
    username = fields.String(required=True)
    email = fields.String(required=True)


class TokenPair(Schema):
    access = fields.String(required=True)
    refresh = fields.String(required=True)
