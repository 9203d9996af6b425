"""Shared recipe flags: --test-from is read in --timezone, and a bad value is one clear refusal."""

import argparse

import pytest

from ecomtf import cli_args


def test_test_from_is_epoch_ms_in_the_given_timezone():
    args = argparse.Namespace(test_from="2024-01-02 01:00", timezone="Europe/Berlin")
    assert cli_args.test_from_ms_from_args(args) == 1704153600000  # 2024-01-02 00:00 UTC
    assert cli_args.test_from_ms_from_args(argparse.Namespace(test_from="", timezone="UTC")) is None


def test_unparsable_test_from_is_refused_by_name():
    with pytest.raises(SystemExit, match="--test-from: cannot parse 'next tuesday'"):
        cli_args.test_from_ms_from_args(argparse.Namespace(test_from="next tuesday", timezone="UTC"))
