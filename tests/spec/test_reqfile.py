"""The requirements-file parser: pip's format, every option, every error."""

from __future__ import annotations

import codecs
from collections.abc import Mapping
from pathlib import Path

import pytest

from bundler.errors import BundlerError, InputFileError, MultipleErrors, UsageError
from bundler.models import IndexSettings
from bundler.spec.reqfile import (
    RequirementsInput,
    collect_requirements,
    decode_requirements,
    parse_requirements_file,
    parse_requirements_text,
)
from bundler.spec.reqlines import LogicalLine, logical_lines

SHA256 = "a" * 64
SHA384 = "b" * 96
SHA512 = "c" * 128


def parse(
    text: str,
    path: str = "requirements.in",
    *,
    files: Mapping[str, str] | None = None,
    environ: Mapping[str, str] | None = None,
    constraint: bool = False,
) -> RequirementsInput:
    """Parse ``text``; ``files`` are what ``-r``/``-c`` may read."""
    available = dict(files or {})

    def read_file(name: str) -> str:
        if name not in available:
            raise FileNotFoundError(2, "No such file or directory", name)
        return available[name]

    return parse_requirements_text(
        text, path, read_file=read_file, environ=environ or {}, constraint=constraint
    )


def problems(text: str, path: str = "requirements.in", **kwargs: object) -> list[InputFileError]:
    """The errors parsing ``text`` raises, flattened."""
    with pytest.raises(BundlerError) as info:
        parse(text, path, **kwargs)  # type: ignore[arg-type]
    err = info.value
    found = list(err.errors) if isinstance(err, MultipleErrors) else [err]
    assert all(isinstance(e, InputFileError) for e in found)
    assert info.value.exit_code == 2
    return [e for e in found if isinstance(e, InputFileError)]


def names(result: RequirementsInput) -> list[str]:
    return [r.name for r in result.requirements]


# --- lines, comments, continuations, variables ------------------------------------


def test_comments_at_line_start_and_after_whitespace_are_dropped() -> None:
    result = parse(
        "# a comment\n"
        "alpha==1.0  # pinned for a reason\n"
        "   # indented comment\n"
        "\n"
        "https://host/gamma-1.0.tar.gz#sha256=" + SHA256 + "\n"
    )
    assert names(result) == ["alpha", "gamma"]
    assert str(result.requirements[0].requirement) == "alpha==1.0"
    # A '#' not after whitespace is part of the line (pip: COMMENT_RE) ...
    assert result.requirements[1].url == "https://host/gamma-1.0.tar.gz#sha256=" + SHA256
    # ... so here it makes the requirement invalid instead of starting a comment.
    (err,) = problems("beta#notacomment==1\n")
    assert "invalid requirement 'beta#notacomment==1'" in err.message


def test_continuation_lines_join_and_keep_the_first_line_number() -> None:
    text = '# header\nalpha \\\n  [extra] \\\n  ==1.0 ; python_version >= "3.8"\nbeta==2.0\n'
    result = parse(text)
    alpha, beta = result.requirements
    assert str(alpha.requirement) == 'alpha[extra]==1.0; python_version >= "3.8"'
    assert alpha.source == "requirements.in:2"
    assert alpha.lineno == 2
    assert beta.source == "requirements.in:5"


def test_a_comment_ending_in_backslash_does_not_continue() -> None:
    result = parse("# note \\\nalpha==1.0\n")
    assert names(result) == ["alpha"]
    assert result.requirements[0].lineno == 2


def test_trailing_backslash_on_the_last_line() -> None:
    assert names(parse("alpha==1.0 \\")) == ["alpha"]


def test_logical_lines_report_comments_and_blank_lines() -> None:
    lines = list(logical_lines("a==1 \\\n    --hash=x\n    # via b\n\nc  # why\n"))
    assert lines == [
        LogicalLine(1, "a==1     --hash=x", ""),
        LogicalLine(3, "", "# via b"),
        LogicalLine(4, "", ""),
        LogicalLine(5, "c", "# why"),
    ]


def test_environment_variables_follow_pips_rule() -> None:
    env = {"INDEX": "https://mirror.example/simple", "VER": "2.0", "lower": "x", "EMPTY": ""}
    result = parse(
        "--index-url ${INDEX}\n"
        "alpha==${VER}\n"
        "--extra-index-url https://h/$VER/${lower}/${EMPTY}/${UNSET}\n",
        environ=env,
    )
    assert result.indexes.index_url == "https://mirror.example/simple"
    assert str(result.requirements[0].requirement) == "alpha==2.0"
    # Only ${UPPER_CASE}: $VER and ${lower} stay; unset or empty stay as written.
    assert result.indexes.extra_index_urls == ("https://h/$VER/${lower}/${EMPTY}/${UNSET}",)
    # The recorded line keeps the variable, not its (possibly secret) value.
    assert result.requirements[0].line == "alpha==${VER}"


def test_default_environment_is_the_process_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("BUNDLER_TEST_VERSION", "3.1")
    result = parse_requirements_text("alpha==${BUNDLER_TEST_VERSION}\n", "r.in", read_file=None)
    assert str(result.requirements[0].requirement) == "alpha==3.1"


# --- requirements -------------------------------------------------------------------


def test_pep508_requirements_with_extras_markers_and_normalized_names() -> None:
    result = parse(
        "Foo_Bar[Security,socks] >= 1.0, < 2 ; sys_platform == 'win32'\nzope.interface===5.0\n"
    )
    foo, zope = result.requirements
    assert foo.name == "foo-bar"
    assert foo.requirement.name == "Foo_Bar"
    assert foo.requirement.extras == {"Security", "socks"}
    assert str(foo.requirement.specifier) == "<2,>=1.0"
    assert str(foo.requirement.marker) == 'sys_platform == "win32"'
    assert foo.url is None
    assert foo.comes_from == "requirements.in"
    assert zope.name == "zope-interface"


def test_hash_options_on_a_requirement() -> None:
    result = parse(
        f"alpha==1.0 --hash=sha256:{SHA256.upper()} \\\n"
        f"    --hash sha384:{SHA384} \\\n"
        f"    --hash=sha512:{SHA512} --hash=sha256:{SHA256}\n"
    )
    assert result.requirements[0].hashes == (
        f"sha256:{SHA256}",
        f"sha384:{SHA384}",
        f"sha512:{SHA512}",
    )


@pytest.mark.parametrize(
    ("option", "expected"),
    [
        ("--hash=md5:" + "d" * 32, "invalid --hash=md5:"),
        ("--hash=sha256", "invalid --hash=sha256"),
        ("--hash=sha256:xyz", "not a sha256 hex digest"),
        ("--hash=sha256:" + "a" * 63, "not a sha256 hex digest"),
        # pip compares the algorithm's name as written.
        ("--hash=SHA256:" + "a" * 64, "invalid --hash=SHA256:"),
    ],
)
def test_bad_hashes_are_errors(option: str, expected: str) -> None:
    (err,) = problems(f"alpha==1.0 {option}\n")
    assert err.line == 1
    assert expected in err.message


def test_hash_without_a_requirement_points_at_the_missing_backslash() -> None:
    (err,) = problems(f"alpha==1.0\n    --hash=sha256:{SHA256}\n")
    assert err.line == 2
    assert "--hash must follow a requirement" in err.message
    assert err.hint is not None and "backslash" in err.hint


def test_direct_references() -> None:
    result = parse(
        "Alpha[x] @ https://files.example/alpha-1.0-py3-none-any.whl ; python_version > '3'\n"
        "beta @ file:///srv/dists/beta-2.0.tar.gz\n"
        "gamma @ ./vendor/gamma-3.0.tar.gz\n",
        path="/work/project/requirements.in",
    )
    alpha, beta, gamma = result.requirements
    assert alpha.name == "alpha"
    assert alpha.url == "https://files.example/alpha-1.0-py3-none-any.whl"
    assert alpha.requirement.extras == {"x"}
    assert str(alpha.requirement.marker) == 'python_version > "3"'
    assert beta.url == "file:///srv/dists/beta-2.0.tar.gz"
    # A relative path is joined to the file's directory and made a file:// URL.
    assert gamma.url == "file:///work/project/vendor/gamma-3.0.tar.gz"
    assert gamma.requirement.url == gamma.url


def test_direct_reference_to_another_projects_wheel_is_an_error() -> None:
    (err,) = problems("alpha @ https://h/beta-1.0-py3-none-any.whl\n")
    assert "distribution of beta, not of alpha" in err.message


@pytest.mark.parametrize(
    "line",
    [
        "alpha @ git+https://github.com/org/alpha@main",
        "git+https://github.com/org/alpha#egg=alpha",
        "alpha @ ftp://host/alpha-1.0.tar.gz",
    ],
)
def test_vcs_and_other_schemes_are_refused(line: str) -> None:
    (err,) = problems(line + "\n")
    assert "VCS" in err.message or "unsupported URL scheme" in err.message


def test_bare_paths_and_urls_to_distributions() -> None:
    result = parse(
        "./dist/Foo_Bar-1.0-py3-none-any.whl[extra] ; sys_platform == 'linux'\n"
        "../shared/baz-2.0.tar.gz\n"
        "https://host/path/qux-3.0.tar.gz ; python_version >= '3.10'\n"
        "https://host/archive/main.zip#egg=quux\n",
        path="/repo/app/requirements.in",
    )
    foo, baz, qux, quux = result.requirements
    assert foo.name == "foo-bar"
    assert foo.url == "file:///repo/app/dist/Foo_Bar-1.0-py3-none-any.whl"
    assert foo.requirement.extras == {"extra"}
    assert str(foo.requirement.marker) == 'sys_platform == "linux"'
    assert baz.url == "file:///repo/shared/baz-2.0.tar.gz"
    assert (baz.name, qux.name, quux.name) == ("baz", "qux", "quux")
    assert qux.url == "https://host/path/qux-3.0.tar.gz"
    assert str(qux.requirement.marker) == 'python_version >= "3.10"'
    assert quux.url == "https://host/archive/main.zip#egg=quux"
    assert str(quux.requirement) == "quux @ https://host/archive/main.zip#egg=quux"


def test_bare_url_without_a_project_name() -> None:
    (err,) = problems("https://host/archive/main.zip\n")
    assert "cannot tell the project name" in err.message
    assert err.hint is not None and "name @ URL" in err.hint


def test_bare_path_that_is_not_a_distribution_filename() -> None:
    (err,) = problems("./dist/not_a_dist.whl\n")
    assert "not a wheel or sdist filename" in err.message


def test_directory_path_is_explained() -> None:
    (err,) = problems("./my-project\n")
    assert err.hint is not None and "looks like a path" in err.hint


def test_equals_typo_gets_a_hint() -> None:
    (err,) = problems("alpha=1.0\n")
    assert err.hint is not None and "did you mean ==" in err.hint


@pytest.mark.parametrize("line", ["-e ./project", "--editable=git+https://h/r.git#egg=r"])
def test_editables_are_not_supported(line: str) -> None:
    (err,) = problems(line + "\n")
    assert "editable requirements (-e) are not supported" in err.message


# --- options --------------------------------------------------------------------------


def test_index_options() -> None:
    result = parse(
        "-i https://mirror.example/simple/\n"
        "--extra-index-url https://extra.example/simple/\n"
        "--extra-index-url=https://more.example/simple/\n"
    )
    assert result.indexes == IndexSettings(
        index_url="https://mirror.example/simple/",
        extra_index_urls=("https://extra.example/simple/", "https://more.example/simple/"),
    )
    assert result.index_url_set is True
    assert result.no_index is False


@pytest.mark.parametrize(
    "line",
    [
        "--index-url https://m/simple",
        "--index-url=https://m/simple",
        "-ihttps://m/simple",
        "--pypi-url https://m/simple",
        "--index https://m/simple",
    ],
)
def test_index_url_spellings(line: str) -> None:
    # pip's optparse accepts aliases, "=" and unambiguous abbreviations.
    assert parse(line + "\n").indexes.index_url == "https://m/simple"


def test_file_without_index_options_leaves_the_defaults() -> None:
    result = parse("alpha\n")
    assert result.indexes == IndexSettings()
    assert result.index_url_set is False


def test_no_index_drops_every_index_url() -> None:
    result = parse(
        "--no-index\n--index-url https://m/simple\n--extra-index-url https://x/simple\n"
        "--find-links https://links.example/\n"
    )
    assert result.indexes.index_url is None
    assert result.indexes.extra_index_urls == ()
    assert result.indexes.find_links == ("https://links.example/",)
    assert result.no_index is True
    assert result.index_url_set is True


def test_find_links_relative_to_the_file() -> None:
    result = parse(
        "-f ./wheels\n--find-links ../shared\n--find-links /abs/dir\n"
        "--find-links https://h/links/\n--find-links file:///srv/w\n",
        path="config/requirements.in",
    )
    assert result.indexes.find_links == (
        "config/wheels",
        "shared",
        "/abs/dir",
        "https://h/links/",
        "file:///srv/w",
    )


def test_pre_prefer_binary_trusted_host_require_hashes() -> None:
    result = parse(
        "--pre\n--prefer-binary\n--trusted-host mirror.example\n--require-hashes\nalpha\n"
    )
    assert result.pre and result.prefer_binary and result.require_hashes
    assert result.trusted_hosts == ("mirror.example",)
    plain = parse("alpha\n")
    assert not (plain.pre or plain.prefer_binary or plain.require_hashes)


def test_several_options_on_one_line() -> None:
    result = parse("--pre --index-url https://m/simple --trusted-host m\n")
    assert result.pre
    assert result.indexes.index_url == "https://m/simple"
    assert result.trusted_hosts == ("m",)


@pytest.mark.parametrize(
    ("lines", "only", "no"),
    [
        (["--only-binary :all:"], {":all:"}, set()),
        (["--no-binary Foo_Bar,baz"], set(), {"foo-bar", "baz"}),
        (["--only-binary :all:", "--no-binary foo"], {":all:"}, {"foo"}),
        (["--no-binary foo", "--only-binary foo"], {"foo"}, set()),
        (["--no-binary :all:", "--only-binary :all:"], {":all:"}, set()),
        (["--only-binary a,b", "--only-binary :none:", "--only-binary c"], {"c"}, set()),
        (["--only-binary a,:all:,:none:,b"], {"b"}, set()),
    ],
)
def test_binary_format_controls_follow_pip(lines: list[str], only: set[str], no: set[str]) -> None:
    result = parse("\n".join(lines) + "\n")
    assert result.only_binary == only
    assert result.no_binary == no


def test_format_control_needs_a_value() -> None:
    (err,) = problems("--only-binary --pre\n")
    assert "--only-binary requires an argument" in err.message


def test_unknown_option_is_an_error_with_a_hint() -> None:
    (err,) = problems("alpha\n--upgrade\n")
    assert err.line == 2
    assert "no such option: --upgrade" in err.message
    assert err.hint is not None and "supported options" in err.hint


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("alpha==1.0 --pre", "--pre cannot follow a requirement"),
        ("alpha==1.0 -C key=value", "--config-settings is not supported"),
        ("--all-releases :all:", "--all-releases and --only-final are not supported"),
        ("--pre alpha", "unexpected argument 'alpha'"),
        ("--index-url 'https://unterminated", "cannot split the options"),
    ],
)
def test_misplaced_and_unsupported_options(line: str, expected: str) -> None:
    (err,) = problems(line + "\n")
    assert expected in err.message


# --- includes -------------------------------------------------------------------------


def test_nested_requirements_and_constraints_relative_to_the_including_file() -> None:
    files = {
        "reqs/base.txt": "-c ../constraints/pins.txt\nbeta\n-r more/extra.txt\n",
        "constraints/pins.txt": "beta==2.0\n--extra-index-url https://c/simple\n",
        "reqs/more/extra.txt": "gamma\n",
    }
    result = parse("alpha\n-r reqs/base.txt\n--requirement=reqs/more/extra.txt\n", files=files)
    assert names(result) == ["alpha", "beta", "gamma", "gamma"]
    assert [c.name for c in result.constraints] == ["beta"]
    assert result.constraints[0].source == "constraints/pins.txt:1"
    assert result.constraints[0].comes_from == "constraints/pins.txt"
    assert result.requirements[1].comes_from == "reqs/base.txt"
    assert result.requirements[2].source == "reqs/more/extra.txt:1"
    # Option lines in included files count (pip applies them globally).
    assert result.indexes.extra_index_urls == ("https://c/simple",)
    assert result.files == (
        "requirements.in",
        "reqs/base.txt",
        "constraints/pins.txt",
        "reqs/more/extra.txt",
    )


def test_an_include_takes_its_kind_from_the_option_as_in_pip() -> None:
    # pip: -r inside a constraints file still reads requirements; -c constraints.
    files = {"c.txt": "-r r2.txt\n-c c2.txt\n", "r2.txt": "alpha\n", "c2.txt": "beta<3\n"}
    result = parse("-c c.txt\n", files=files)
    assert names(result) == ["alpha"]
    assert [str(c.requirement) for c in result.constraints] == ["beta<3"]


def test_whole_file_as_constraints() -> None:
    result = parse("beta==1.0\n", constraint=True)
    assert result.requirements == ()
    assert [c.name for c in result.constraints] == ["beta"]


def test_constraints_cannot_have_extras() -> None:
    (err,) = problems("-c c.txt\n", files={"c.txt": "beta[x]==1\n"})
    assert err.path == "c.txt"
    assert "constraints cannot have extras" in err.message


def test_include_loops_are_detected() -> None:
    files = {"a.txt": "alpha\n-r b.txt\n", "b.txt": "beta\n-r a.txt\n"}
    (err,) = problems("-r a.txt\n", files=files)
    assert err.path == "b.txt"
    assert err.line == 2
    assert "a.txt recursively references itself in b.txt and again in requirements.in" in (
        err.message
    )


def test_a_file_including_itself() -> None:
    (err,) = problems("alpha\n-r ./requirements.in\n")
    assert "requirements.in recursively references itself in requirements.in" in err.message


def test_the_same_file_twice_without_a_loop_is_fine() -> None:
    files = {"a.txt": "-r common.txt\n", "b.txt": "-r common.txt\n", "common.txt": "zeta\n"}
    result = parse("-r a.txt\n-r b.txt\n", files=files)
    assert names(result) == ["zeta", "zeta"]


def test_unreadable_include() -> None:
    (err,) = problems("alpha\n-r missing.txt\n")
    assert err.line == 2
    assert "cannot read requirements file missing.txt: No such file or directory" in err.message


def test_includes_over_http_are_refused() -> None:
    (err,) = problems("-r https://user:token@host/reqs.txt\n")
    assert "only local files are supported" in err.message
    assert "token" not in str(err)


def test_includes_refused_when_no_reader_is_given() -> None:
    with pytest.raises(InputFileError, match="must be self-contained"):
        parse_requirements_text("-r other.txt\n", "lock.txt", read_file=None, environ={})


# --- errors ---------------------------------------------------------------------------


def test_every_problem_is_reported_with_its_line() -> None:
    text = "alpha==1.0\nbeta>=>2\n--frobnicate\ngamma==1.0\n-e .\ndelta\n"
    errs = problems(text)
    assert [(e.path, e.line) for e in errs] == [
        ("requirements.in", 2),
        ("requirements.in", 3),
        ("requirements.in", 5),
    ]
    assert all(str(e).startswith(f"requirements.in:{e.line}: ") for e in errs)


def test_problems_in_included_files_are_collected_too() -> None:
    errs = problems("bad==\n-r sub/other.txt\n", files={"sub/other.txt": "ok\n--nope\n"})
    assert [(e.path, e.line) for e in errs] == [("requirements.in", 1), ("sub/other.txt", 2)]


def test_multiple_errors_is_a_usage_error_and_lists_them_all() -> None:
    with pytest.raises(MultipleErrors) as info:
        parse("a==\nb==\n")
    assert info.value.exit_code == 2
    assert "requirements.in:1:" in str(info.value)
    assert "requirements.in:2:" in str(info.value)


def test_collect_requirements_returns_good_lines_next_to_problems() -> None:
    result, errs = collect_requirements("alpha\nbad==\ngamma\n", "r.in", read_file=None, environ={})
    assert names(result) == ["alpha", "gamma"]
    assert len(errs) == 1


def test_credentials_never_appear_in_lines_or_errors() -> None:
    result = parse("alpha @ https://user:s3cret@host/alpha-1.0-py3-none-any.whl\n")
    req = result.requirements[0]
    assert req.line == "alpha @ https://host/alpha-1.0-py3-none-any.whl"
    # The URL keeps them: the downloader needs them.
    assert req.url == "https://user:s3cret@host/alpha-1.0-py3-none-any.whl"
    (err,) = problems("alpha @ git+https://user:s3cret@host/alpha.git\n")
    assert "s3cret" not in str(err)
    (err,) = problems("--index-url https://user:s3cret@host/simple --bogus\n")
    assert "s3cret" not in str(err)
    # Values of ${VAR} are not shown either: they may be tokens.
    env = {"TOKEN": "t0psecret"}
    (err,) = problems("--extra-index-url https://host/${TOKEN}/simple --bogus\n", environ=env)
    assert "t0psecret" not in str(err) and "${TOKEN}" in str(err)
    (err,) = problems("alpha @ git+https://host/${TOKEN}/alpha.git\n", environ=env)
    assert "t0psecret" not in str(err) and "${TOKEN}" in str(err)


# --- annotations ------------------------------------------------------------------------


def test_comments_below_a_requirement_are_kept_as_its_annotations() -> None:
    text = (
        "# header comment\n"
        "alpha==1.0 \\\n"
        f"    --hash=sha256:{SHA256}\n"
        "    # via\n"
        "    #   beta\n"
        "    #   -r requirements.in\n"
        "gamma==1.0  # via delta\n"
        "\n"
        "# a section comment\n"
        "zeta==1.0\n"
    )
    alpha, gamma, zeta = parse(text).requirements
    assert alpha.comments == ("# via", "#   beta", "#   -r requirements.in")
    assert gamma.comments == ("# via delta",)
    assert zeta.comments == ()


# --- files on disk ------------------------------------------------------------------------


def test_parse_requirements_file_reads_includes_from_disk(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "requirements.in").write_text("alpha\n-r sub/more.txt\n-f wheels\n")
    (tmp_path / "sub" / "more.txt").write_text("beta\n./beta-1.0-py3-none-any.whl\n")
    result = parse_requirements_file(tmp_path / "requirements.in")
    assert names(result) == ["alpha", "beta", "beta"]
    assert result.requirements[0].source == f"{tmp_path}/requirements.in:1"
    assert result.requirements[2].url == (tmp_path / "sub" / "beta-1.0-py3-none-any.whl").as_uri()
    assert result.indexes.find_links == (str(tmp_path / "wheels"),)


def test_parse_requirements_file_expands_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BUNDLER_TEST_INDEX", "https://mirror.example/simple")
    path = tmp_path / "r.in"
    path.write_text("--index-url ${BUNDLER_TEST_INDEX}\n")
    assert parse_requirements_file(path).indexes.index_url == "https://mirror.example/simple"


def test_missing_file_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="cannot read"):
        parse_requirements_file(tmp_path / "nope.in")


def test_undecodable_file_is_a_usage_error(tmp_path: Path) -> None:
    path = tmp_path / "r.in"
    path.write_bytes(b"alpha\xff\xfe==1\n")
    with pytest.raises(InputFileError, match="cannot read"):
        parse_requirements_file(path)


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (codecs.BOM_UTF8 + "alpha # é\n".encode(), "alpha # é\n"),
        (codecs.BOM_UTF16_LE + "alpha\n".encode("utf-16-le"), "alpha\n"),
        (codecs.BOM_UTF32_LE + "alpha\n".encode("utf-32-le"), "alpha\n"),
        ("# -*- coding: latin-1 -*-\nalpha # é\n".encode("latin-1"), None),
        ("alpha # é\n".encode(), "alpha # é\n"),
    ],
)
def test_decoding_follows_pip(data: bytes, expected: str | None) -> None:
    text = decode_requirements(data)
    if expected is None:
        assert text.endswith("alpha # é\n")
    else:
        assert text == expected


def test_each_line_s_options_are_its_own_from_many_threads() -> None:
    """One option parser serves every line: what one line gives never
    shows in another, whichever thread parses it."""
    from concurrent.futures import ThreadPoolExecutor

    from bundler.spec.reqoptions import parse_options

    def options(n: int) -> tuple[list[str] | None, list[tuple[str, str]]]:
        text = f"--hash=sha256:{n:064x}" if n % 2 else f"--no-binary pkg{n}"
        values = parse_options(text)
        return values.hashes, values.format_control

    with ThreadPoolExecutor(8) as pool:
        got = list(pool.map(options, range(200)))
    for n, (hashes, format_control) in enumerate(got):
        if n % 2:
            assert hashes == [f"sha256:{n:064x}"] and format_control == []
        else:
            assert hashes is None and format_control == [("no_binary", f"pkg{n}")]


def test_the_option_parser_is_built_once_for_a_whole_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bundler.spec import reqoptions

    built: list[int] = []
    real = reqoptions._build_option_parser

    def counting() -> reqoptions._LineOptionParser:
        built.append(1)
        return real()

    monkeypatch.setattr(reqoptions, "_build_option_parser", counting)
    reqoptions._option_parser.cache_clear()
    lines = [f"pkg{n}==1.0 --hash=sha256:{n:064x}" for n in range(50)]
    path = tmp_path / "requirements.txt"
    path.write_text("\n".join(lines) + "\n")
    parse_requirements_file(path)
    reqoptions._option_parser.cache_clear()  # later tests build their own parser
    assert built == [1]
