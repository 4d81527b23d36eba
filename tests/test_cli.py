"""The ``symback`` command line: exit codes, one-line errors, and the subcommands.

User mistakes run in a subprocess (the real console script), so that "no
traceback" is what a user sees.  Nothing here calls a compiled kernel: no Numba
compilation.
"""
import os
import pathlib
import shutil
import subprocess
import sys
import textwrap

import pytest

from symback.cli import main

ROOT = pathlib.Path(__file__).resolve().parent.parent
LECTURE = ROOT / "examples" / "lecture" / "model.py"
SYMBACK = shutil.which("symback")
SUBCOMMANDS = ["compile", "check", "explain", "graph", "bench"]


def run(*args, cwd=None):
    """``symback ARGS`` as a user runs it: (exit code, stdout, stderr)."""
    cmd = [SYMBACK, *args] if SYMBACK else [sys.executable, "-m", "symback", *args]
    proc = subprocess.run(cmd, cwd=cwd or ROOT, capture_output=True, text=True, timeout=120)
    return proc.returncode, proc.stdout, proc.stderr


def write(tmp_path, text, name="model.py"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def assert_user_error(code, out, err, *words, status=2):
    assert code == status, (code, err)
    assert "Traceback" not in err
    assert not out
    line = err.strip().splitlines()[-1]
    for w in words:
        assert w in line, (w, err)
    return line


# --- user mistakes: one line, exit 2, no traceback ----------------------------------------

def test_missing_file(tmp_path):
    code, out, err = run("compile", str(tmp_path / "nope.py"))
    line = assert_user_error(code, out, err, "nope.py", "no such file")
    assert err.strip() == line


def test_file_without_model(tmp_path):
    path = write(tmp_path, "x = 1\n")
    code, out, err = run("compile", str(path))
    assert err.strip() == assert_user_error(code, out, err, str(path), "model()")


def test_model_returns_something_else(tmp_path):
    path = write(tmp_path, "def model():\n    return 42\n")
    code, out, err = run("compile", str(path))
    assert err.strip() == assert_user_error(code, out, err, "model()", "int", "sb.Model")


def test_model_file_that_does_not_import(tmp_path):
    path = write(tmp_path, "def model(:\n")
    code, out, err = run("explain", str(path))
    assert err.strip() == assert_user_error(code, out, err, "SyntaxError")


def test_model_that_raises(tmp_path):
    path = write(tmp_path, "def model():\n    raise RuntimeError('no data here')\n")
    code, out, err = run("graph", str(path))
    assert err.strip() == assert_user_error(code, out, err, "RuntimeError", "no data here")


def test_loss_that_is_not_scalar(tmp_path):
    path = write(tmp_path, """
        import symback as sb
        def model():
            x = sb.var("x", (3,))
            return sb.Model(name="v", loss=x * 2.0, params=[x])
    """)
    code, out, err = run("compile", str(path), "-o", str(tmp_path / "v.py"))
    assert err.strip() == assert_user_error(code, out, err, "scalar")
    assert not (tmp_path / "v.py").exists()


def test_unknown_entry_point(tmp_path):
    code, out, err = run("compile", str(LECTURE), "--entry", "forward,backward", "-o", str(tmp_path / "k.py"))
    assert_user_error(code, out, err, "--entry", "'backward'", "value_and_grad")
    assert not (tmp_path / "k.py").exists()


def test_empty_entry_list(tmp_path):
    code, out, err = run("compile", str(LECTURE), "--entry", ",", "-o", str(tmp_path / "k.py"))
    assert_user_error(code, out, err, "--entry")


def test_bad_dtype(tmp_path):
    code, out, err = run("compile", str(LECTURE), "--dtype", "float16", "-o", str(tmp_path / "k.py"))
    assert_user_error(code, out, err, "--dtype", "float16", "float32")


def test_unknown_subcommand_and_no_subcommand():
    assert_user_error(*run("frobnicate"), "frobnicate", "compile")
    assert_user_error(*run(), "COMMAND")


def test_integer_input_without_a_value(tmp_path):
    path = write(tmp_path, """
        import symback as sb
        def model():
            x, k = sb.var("x", (3,)), sb.var("k", (3,), "int64")
            return sb.Model(name="ik", loss=sb.sum(x * sb.astype(k, "float64")), params=[x])
    """)
    code, out, err = run("explain", str(path))
    assert err.strip() == assert_user_error(code, out, err, "k", "at=")


def test_variable_listed_twice(tmp_path):
    path = write(tmp_path, """
        import symback as sb
        def model():
            x = sb.var("x")
            return sb.Model(name="dup", loss=x * x, params=[x], inputs=[x])
    """)
    code, out, err = run("compile", str(path), "-o", str(tmp_path / "dup.py"))
    assert err.strip() == assert_user_error(code, out, err, "x", "twice")


def test_parameter_that_is_not_a_variable(tmp_path):
    path = write(tmp_path, """
        import symback as sb
        def model():
            x = sb.var("x")
            return sb.Model(name="np2", loss=x * x, params=[x * 2.0])
    """)
    code, out, err = run("compile", str(path), "-o", str(tmp_path / "np2.py"))
    assert err.strip() == assert_user_error(code, out, err, "sb.var")


def test_keyword_variable_name_is_refused(tmp_path):
    path = write(tmp_path, """
        import symback as sb
        def model():
            x = sb.var("lambda")
            return sb.Model(name="kw", loss=x * x, params=[x])
    """)
    code, out, err = run("compile", str(path), "-o", str(tmp_path / "kw.py"))
    assert err.strip() == assert_user_error(code, out, err, "'lambda'", "keyword")
    assert not (tmp_path / "kw.py").exists()


@pytest.mark.parametrize("name", ["np", "math"])
def test_variable_named_like_a_module_compiles(tmp_path, name):
    """The generated code's own names are renamed inside the kernel, never refused
    (symback.names); the public function keeps the user's name."""
    path = write(tmp_path, f"""
        import symback as sb
        def model():
            x = sb.var({name!r})
            return sb.Model(name="kw", loss=sb.exp(x) * x, params=[x])
    """)
    out_file = tmp_path / "kw.py"
    code, out, err = run("compile", str(path), "-o", str(out_file))
    assert code == 0, err
    text = out_file.read_text()
    compile(text, str(out_file), "exec")
    assert f"def _value_and_grad({name}_):" in text and f"def value_and_grad({name}):" in text
    assert f"return _value_and_grad_checked({name})" in text


def test_bad_point_in_the_model(tmp_path):
    path = write(tmp_path, """
        import symback as sb
        def model():
            x = sb.var("x")
            return sb.Model(name="pt", loss=x * x, params=[x], at={"z": 1.0})
    """)
    code, out, err = run("explain", str(path))
    assert err.strip() == assert_user_error(code, out, err, "'z'", "not a variable of the model", "x")


def test_non_positive_size(tmp_path):
    assert_user_error(*run("bench", str(LECTURE), "--size", "0"), "--size", "positive")


# --- bugs in symback: the traceback, exit 1 ---------------------------------------------------

@pytest.mark.parametrize("error", ["KeyError('internal')", "ValueError('internal')", "AssertionError"])
def test_internal_error_keeps_its_traceback(tmp_path, error):
    """An exception from inside symback that is not a UserError is a bug: it must
    not be dressed up as a one-line usage error.  The model file breaks the
    emitter to play the part of the bug."""
    path = write(tmp_path, f"""
        import symback as sb
        import symback.backend.numba as backend

        def broken(*args, **kwargs):
            raise {error}

        backend.ModuleEmitter.emit = broken   # looked up when the CLI emits the module

        def model():
            x = sb.var("x")
            return sb.Model(name="bug", loss=x * x, params=[x])
    """)
    code, out, err = run("compile", str(path), "-o", str(tmp_path / "bug.py"))
    assert code == 1, err
    assert "Traceback" in err and err.strip().splitlines()[-1].startswith(error.split("(")[0])
    assert "in broken" in err
    assert not (tmp_path / "bug.py").exists()


def test_unwritable_output(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    code, out, err = run("compile", str(LECTURE), "-o", str(blocker / "sub" / "k.py"))
    assert_user_error(code, out, err, "k.py")


# --- help ----------------------------------------------------------------------------------

def test_help_top_level(capsys):
    with pytest.raises(SystemExit) as e:
        main(["--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    for sub in SUBCOMMANDS:
        assert sub in out


@pytest.mark.parametrize("sub", SUBCOMMANDS)
def test_help_every_subcommand(sub, capsys):
    with pytest.raises(SystemExit) as e:
        main([sub, "--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: symback {sub}") and "MODEL.py" in out


def test_python_dash_m_symback_help():
    proc = subprocess.run([sys.executable, "-m", "symback", "--help"], capture_output=True, text=True,
                          cwd=ROOT, timeout=120)
    assert proc.returncode == 0 and proc.stdout.startswith("usage: symback")
    proc = subprocess.run([sys.executable, "-m", "symback", "compile", "--help"], capture_output=True,
                          text=True, cwd=ROOT, timeout=120)
    assert proc.returncode == 0 and "--entry" in proc.stdout


def test_console_script_is_installed():
    assert SYMBACK, "the `symback` console script is not on PATH"
    code, out, _ = run("--help")
    assert code == 0 and "compile" in out


# --- the subcommands on the lecture example -------------------------------------------------

def test_explain_lecture(capsys):
    assert main(["explain", str(LECTURE)]) == 0
    out = capsys.readouterr().out
    assert "1208.38" in out and "809.707" in out
    assert "g_y = 1" in out


def test_check_lecture(capsys):
    assert main(["check", str(LECTURE)]) == 0
    out = capsys.readouterr().out
    assert "proved" in out
    assert out.count("proved") >= 2          # both x and z


def test_check_lecture_json(capsys):
    import json
    assert main(["check", str(LECTURE), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] is True


def test_graph_prints_dot(capsys):
    assert main(["graph", str(LECTURE)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("digraph") and out.rstrip().endswith("}")


def test_graph_with_gradient_to_a_dot_file(tmp_path, capsys):
    out_file = tmp_path / "lecture.dot"
    assert main(["graph", str(LECTURE), "--grad", "-o", str(out_file)]) == 0
    assert out_file.read_text().startswith("digraph")
    assert str(out_file) in capsys.readouterr().out


# --- compile and compile --check -------------------------------------------------------------

def test_compile_writes_the_module_and_check_agrees(tmp_path, capsys):
    out_file = tmp_path / "sub" / "lecture.py"
    assert main(["compile", str(LECTURE), "-o", str(out_file)]) == 0
    assert f"wrote {out_file}" in capsys.readouterr().out
    assert out_file.read_text() == (ROOT / "generated" / "lecture.py").read_text()
    assert not [p for p in out_file.parent.iterdir() if p.name != "lecture.py"]   # no temporary left
    assert main(["compile", str(LECTURE), "-o", str(out_file), "--check"]) == 0
    assert "up to date" in capsys.readouterr().out


def test_compile_default_output_is_generated_name(tmp_path):
    code, out, err = run("compile", str(LECTURE), cwd=tmp_path)
    assert code == 0, err
    assert (tmp_path / "generated" / "lecture.py").read_text() == (ROOT / "generated" / "lecture.py").read_text()


def test_compile_check_out_of_date_and_missing(tmp_path):
    stale = tmp_path / "lecture.py"
    stale.write_text((ROOT / "generated" / "lecture.py").read_text() + "# edited by hand\n")
    code, out, err = run("compile", str(LECTURE), "-o", str(stale), "--check")
    assert code == 1 and "Traceback" not in err
    assert "out of date" in err and "symback compile" in err
    assert stale.read_text().endswith("# edited by hand\n")   # --check writes nothing
    code, out, err = run("compile", str(LECTURE), "-o", str(tmp_path / "absent.py"), "--check")
    assert code == 1 and "missing" in err and "Traceback" not in err
    assert not (tmp_path / "absent.py").exists()


def test_compile_check_notices_other_entry_points(tmp_path, capsys):
    out_file = tmp_path / "lecture.py"
    assert main(["compile", str(LECTURE), "-o", str(out_file), "--entry", "forward,value_and_grad,jvp,hvp"]) == 0
    text = out_file.read_text()
    for entry in ("def forward(", "def value_and_grad(", "def jvp(", "def hvp("):
        assert entry in text
    capsys.readouterr()
    assert main(["compile", str(LECTURE), "-o", str(out_file), "--check"]) == 1


def test_compile_float32(tmp_path):
    out_file = tmp_path / "lecture32.py"
    assert main(["compile", str(LECTURE), "-o", str(out_file), "--dtype", "float32"]) == 0
    text = out_file.read_text()
    assert "float32" in text and "float64 scalar" not in text
