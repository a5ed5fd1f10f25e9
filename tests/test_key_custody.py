"""Keys from files outside the database: _FILE variants, AMPARO_KEYS_DIR, and their checks.

Settings are read once per process, so each case runs manage.py in a subprocess
under production settings (tests/test_settings.py).
"""

from __future__ import annotations

import base64
import secrets

from tests.test_settings import manage, production_env

SHOW_KEYS = (
    "from vault import keys; print('versions', keys.keyring().versions(), "
    "'signing', keys.signing_key_id())"
)


def _key() -> str:
    return base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()


def _write(path, text: str, mode: int = 0o600):
    path.write_text(text)
    path.chmod(mode)
    return path


def _no_env_keys(tmp_path, **overrides) -> dict:
    return production_env(
        tmp_path, **{"AMPARO_KEYS": None, "AMPARO_SIGNING_KEY": None, **overrides}
    )


def test_keys_and_signing_key_are_read_from_their_files(tmp_path):
    keys_file = _write(tmp_path / "kek", f"# Amparo KEKs\n1:{_key()}\n2:{_key()}\n")
    signing = _write(tmp_path / "signing", _key() + "\n")
    env = _no_env_keys(
        tmp_path, AMPARO_KEYS_FILE=str(keys_file), AMPARO_SIGNING_KEY_FILE=str(signing)
    )
    result = manage("shell", "-c", SHOW_KEYS, env=env)
    assert result.returncode == 0, result.stderr
    assert "versions [1, 2]" in result.stdout


def test_keys_are_read_from_the_keys_directory(tmp_path):
    folder = tmp_path / "keys"
    folder.mkdir(mode=0o700)
    _write(folder / "amparo-keys", f"3:{_key()}\n")
    _write(folder / "signing-key", _key())
    env = _no_env_keys(tmp_path, AMPARO_KEYS_DIR=str(folder))
    result = manage("shell", "-c", SHOW_KEYS, env=env)
    assert result.returncode == 0, result.stderr
    assert "versions [3]" in result.stdout
    # and check --deploy stays clean with the directory and files private
    result = manage("check", "--deploy", "--fail-level", "WARNING", env=env)
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_missing_key_file_stops_production_start_up_with_a_clear_error(tmp_path):
    env = _no_env_keys(
        tmp_path,
        AMPARO_KEYS_FILE=str(tmp_path / "nowhere"),
        AMPARO_SIGNING_KEY=_key(),
    )
    result = manage("check", env=env)
    assert result.returncode != 0
    assert "AMPARO_KEYS: the key file" in result.stderr
    assert "cannot be read" in result.stderr and str(tmp_path / "nowhere") in result.stderr


def test_an_unreadable_or_empty_key_file_stops_start_up(tmp_path):
    # A directory where a file should be cannot be read even by root.
    (tmp_path / "adir").mkdir()
    env = _no_env_keys(tmp_path, AMPARO_KEYS_FILE=str(tmp_path / "adir"), AMPARO_SIGNING_KEY=_key())
    result = manage("check", env=env)
    assert result.returncode != 0
    assert "cannot be read" in result.stderr
    empty = _write(tmp_path / "empty", "\n")
    result = manage("check", env={**env, "AMPARO_KEYS_FILE": str(empty)})
    assert result.returncode != 0
    assert "is empty" in result.stderr


def test_a_keys_directory_without_the_signing_key_names_the_file(tmp_path):
    folder = tmp_path / "keys"
    folder.mkdir(mode=0o700)
    _write(folder / "amparo-keys", f"1:{_key()}\n")
    result = manage("check", env=_no_env_keys(tmp_path, AMPARO_KEYS_DIR=str(folder)))
    assert result.returncode != 0
    assert "AMPARO_SIGNING_KEY" in result.stderr
    assert str(folder / "signing-key") in result.stderr


def test_a_key_both_in_the_environment_and_in_a_file_is_refused(tmp_path):
    keys_file = _write(tmp_path / "kek", f"1:{_key()}\n")
    env = production_env(tmp_path, AMPARO_KEYS=f"1:{_key()}", AMPARO_KEYS_FILE=str(keys_file))
    result = manage("check", env=env)
    assert result.returncode != 0
    assert "set AMPARO_KEYS or AMPARO_KEYS_FILE, not both" in result.stderr


def test_a_world_readable_key_file_is_a_warning_that_fails_check_deploy(tmp_path):
    keys_file = _write(tmp_path / "kek", f"1:{_key()}\n", mode=0o644)
    signing = _write(tmp_path / "signing", _key())
    env = _no_env_keys(
        tmp_path, AMPARO_KEYS_FILE=str(keys_file), AMPARO_SIGNING_KEY_FILE=str(signing)
    )
    result = manage("check", "--deploy", "--fail-level", "WARNING", env=env)
    assert result.returncode != 0
    assert "vault.W001" in result.stderr and str(keys_file) in result.stderr
    assert str(signing) not in result.stderr  # 0600: not reported
    keys_file.chmod(0o640)  # group-readable (a service group) is allowed
    result = manage("check", "--deploy", "--fail-level", "WARNING", env=env)
    assert result.returncode == 0, result.stdout + result.stderr
