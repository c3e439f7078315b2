"""`model_tools.jobs.folders`: what a killed job leaves behind is tidied."""

from __future__ import annotations

from model_tools.jobs.folders import remove_temporaries


def test_remove_temporaries_restores_a_swapped_out_folder(tmp_path):
    target = tmp_path / "model"
    (tmp_path / ".model.tmp-1234abcd").mkdir()
    old = tmp_path / ".model.old-5678abcd"
    old.mkdir()
    (old / "manifest.json").write_text("{}")
    remove_temporaries(target)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]
    assert (target / "manifest.json").is_file(), "killed between the two renames: the old model comes back"
