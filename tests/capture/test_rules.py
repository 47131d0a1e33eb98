"""The capture rules as text, the argument parsers and the SO_ORIGINAL_DST helper's errors (no root needed)."""

from __future__ import annotations

import socket

import pytest

from proxy.init import (
    CaptureSettings,
    NoOriginalDestination,
    cleanup_rules,
    install_rules,
    original_destination,
    parse_cidrs,
    parse_ports,
)
from smi.cli.main import main

SAVED_WITH_HOOKS = """\
*nat
:PREROUTING ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:SMI_INBOUND - [0:0]
:SMI_IN_REDIRECT - [0:0]
:SMI_OUTBOUND - [0:0]
:SMI_OUT_REDIRECT - [0:0]
-A PREROUTING -p tcp -j SMI_INBOUND
-A PREROUTING -p tcp -j KUBE-OTHER
-A OUTPUT -p tcp -j SMI_OUTBOUND
-A SMI_INBOUND -p tcp -j SMI_IN_REDIRECT
COMMIT
"""


def test_rules_redirect_inbound_and_outbound_with_the_exemptions_in_front() -> None:
    text = install_rules(
        CaptureSettings(
            exclude_inbound_ports=(22,), exclude_outbound_ports=(5432,), exclude_outbound_cidrs=("10.0.0.0/8",)
        )
    )
    lines = text.splitlines()
    assert lines[0] == "*nat" and lines[-1] == "COMMIT"
    assert "-A SMI_IN_REDIRECT -p tcp -j REDIRECT --to-ports 15003" in lines
    assert "-A SMI_OUT_REDIRECT -p tcp -j REDIRECT --to-ports 15001" in lines
    inbound = [line for line in lines if line.startswith("-A SMI_INBOUND ")]
    assert inbound[-1] == "-A SMI_INBOUND -p tcp -j SMI_IN_REDIRECT"
    assert {"--dport 15000", "--dport 15001", "--dport 15003", "--dport 22"} <= {
        " ".join(line.split()[4:6]) for line in inbound[:-1]
    }
    outbound = [line for line in lines if line.startswith("-A SMI_OUTBOUND ")]
    assert outbound[0] == "-A SMI_OUTBOUND -m owner --uid-owner 1337 -j RETURN"
    assert "-A SMI_OUTBOUND -p tcp --dport 5432 -j RETURN" in outbound
    assert "-A SMI_OUTBOUND -d 10.0.0.0/8 -j RETURN" in outbound
    assert outbound[-1] == "-A SMI_OUTBOUND -p tcp -j SMI_OUT_REDIRECT"
    assert lines[-3:-1] == ["-A PREROUTING -p tcp -j SMI_INBOUND", "-A OUTPUT -p tcp -j SMI_OUTBOUND"]


def test_rerun_deletes_only_our_earlier_hooks() -> None:
    lines = install_rules(CaptureSettings(), saved=SAVED_WITH_HOOKS).splitlines()
    assert "-D PREROUTING -p tcp -j SMI_INBOUND" in lines
    assert "-D OUTPUT -p tcp -j SMI_OUTBOUND" in lines
    assert not any("KUBE-OTHER" in line for line in lines)


def test_cleanup_removes_hooks_then_chains_and_is_none_when_clean() -> None:
    text = cleanup_rules(saved=SAVED_WITH_HOOKS)
    assert text is not None
    lines = text.splitlines()
    assert lines.index("-D PREROUTING -p tcp -j SMI_INBOUND") < lines.index("-X SMI_INBOUND")
    assert {"-X SMI_INBOUND", "-X SMI_IN_REDIRECT", "-X SMI_OUTBOUND", "-X SMI_OUT_REDIRECT"} <= set(lines)
    assert cleanup_rules(saved="*nat\n:PREROUTING ACCEPT [0:0]\nCOMMIT\n") is None


def test_invalid_settings_are_named_field_by_field() -> None:
    settings = CaptureSettings(inbound_port=0, exclude_outbound_ports=(70000,), exclude_outbound_cidrs=("10.0.0.0/33",))
    problems = settings.problems()
    assert any(p.startswith("inbound_port: must be a port") for p in problems)
    assert any(p.startswith("exclude_outbound_ports:") and "70000" in p for p in problems)
    assert any(p.startswith("exclude_outbound_cidrs:") for p in problems)
    with pytest.raises(ValueError, match="inbound_port"):
        install_rules(settings)


def test_port_and_cidr_lists_parse_and_report_the_bad_item() -> None:
    assert parse_ports(" 80, 8080,80 ,", what="x") == (80, 8080)
    with pytest.raises(ValueError, match=r"--exclude-inbound-ports: '8o' is not a port"):
        parse_ports("80,8o", what="--exclude-inbound-ports")
    assert parse_cidrs("10.96.0.1, 10.0.0.0/8", what="x") == ("10.96.0.1/32", "10.0.0.0/8")
    with pytest.raises(ValueError, match="not IPv4"):
        parse_cidrs("fd00::/8", what="x")
    with pytest.raises(ValueError, match="'nope' is not an IPv4"):
        parse_cidrs("nope", what="x")


def test_dry_run_prints_the_rules_without_root(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["proxy-init", "--dry-run", "--exclude-inbound-ports", "22"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("*nat\n") and "-A SMI_INBOUND -p tcp --dport 22 -j RETURN" in out


def test_bad_cli_list_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["proxy-init", "--dry-run", "--exclude-outbound-ports", "80,x"])
    assert exit_info.value.code == 2
    assert "--exclude-outbound-ports: 'x' is not a port number" in capsys.readouterr().err


def test_original_destination_of_a_non_ip_socket_is_an_error() -> None:
    left, right = socket.socketpair()
    with left, right, pytest.raises(NoOriginalDestination, match="not an IPv4/IPv6 socket"):
        original_destination(left)


def test_original_destination_of_a_listening_socket_is_an_error() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        with pytest.raises(NoOriginalDestination, match="no original destination"):
            original_destination(sock)


def test_a_proxy_gid_is_not_captured_either() -> None:
    from proxy.init.rules import CaptureSettings, install_rules

    text = install_rules(CaptureSettings(proxy_gid=1337))
    assert "-A SMI_OUTBOUND -m owner --gid-owner 1337 -j RETURN" in text
    assert "--gid-owner" not in install_rules(CaptureSettings())
    assert CaptureSettings(proxy_gid=0).problems() == ["proxy_gid: must be a gid (1..4294967295), got 0"]


def test_udp_service_rules_dnat_each_vip_and_port_to_its_listener() -> None:
    import pytest

    from proxy.init import udp_service_rules

    text = udp_service_rules([("198.19.0.7", 9053, "198.18.0.5", 15200)])
    assert "-A SMI_UDP_SERVICES -p udp -d 198.19.0.7/32 --dport 9053 -j DNAT --to-destination 198.18.0.5:15200" in text
    assert "-A OUTPUT -p udp -j SMI_UDP_SERVICES" in text
    with pytest.raises(ValueError, match="only IPv4"):
        udp_service_rules([("::1", 53, "198.18.0.5", 15200)])
