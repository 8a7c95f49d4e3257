"""What the chapter's notebooks use: their papermill parameters and train mode, glue helpers, figures, style."""

from pixelpush_lib.chapter.notebook import (
    check_parameters,
    glue_all,
    glue_chapter_numbers,
    glue_text,
    measured_run,
    train_or_resume,
)

__all__ = ["check_parameters", "glue_all", "glue_chapter_numbers", "glue_text", "measured_run", "train_or_resume"]
