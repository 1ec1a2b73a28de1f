"""flows.temporary_server: Prefect's temporary server started as a command begins, only where Prefect would start one."""

import pytest

from imbalance_flows.flows import temporary_server


@pytest.fixture
def clean(monkeypatch, tmp_path):
    """No Prefect settings anywhere: a home of its own, an empty working folder."""
    for name in ("PREFECT_API_URL", "PREFECT_SERVER_ALLOW_EPHEMERAL_MODE", "PREFECT_PROFILE", "PREFECT_PROFILES_PATH"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PREFECT_HOME", str(tmp_path / "home"))
    (tmp_path / "work").mkdir()
    monkeypatch.chdir(tmp_path / "work")
    return tmp_path


def test_prefect_would_start_one_without_any_api_named(clean):
    assert temporary_server._prefect_would_start_one()


@pytest.mark.parametrize("setting", ["environment", "profile", "profile off", "environment off", "prefect.toml",
                                     "pyproject", ".env"])
def test_nothing_is_started_where_an_api_is_named_or_temporary_servers_are_off(clean, monkeypatch, setting):
    home = clean / "home"
    home.mkdir()
    if setting == "environment":
        monkeypatch.setenv("PREFECT_API_URL", "http://127.0.0.1:4200/api")
    elif setting == "environment off":
        monkeypatch.setenv("PREFECT_SERVER_ALLOW_EPHEMERAL_MODE", "false")
    elif setting.startswith("profile"):
        line = ('PREFECT_API_URL = "http://127.0.0.1:4200/api"' if setting == "profile"
                else "PREFECT_SERVER_ALLOW_EPHEMERAL_MODE = false")
        (home / "profiles.toml").write_text(f'active = "mine"\n\n[profiles.mine]\n{line}\n')
    elif setting == "pyproject":
        (clean / "work" / "pyproject.toml").write_text('[tool.prefect]\napi.url = "http://127.0.0.1:4200/api"\n')
    else:
        (clean / "work" / setting).write_text("PREFECT_API_URL=http://127.0.0.1:4200/api\n")

    assert not temporary_server._prefect_would_start_one()


def test_a_profile_that_only_keeps_prefects_defaults_lets_it_start(clean):
    home = clean / "home"
    home.mkdir()
    (home / "profiles.toml").write_text('active = "ephemeral"\n\n[profiles.ephemeral]\n'
                                        'PREFECT_SERVER_ALLOW_EPHEMERAL_MODE = "true"\n')

    assert temporary_server._prefect_would_start_one()
