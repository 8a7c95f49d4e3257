"""The live experiments of the book's Investigations, the project's own tests of the arc: the imitation students
(``distill``, ``distill_control``, with their teacher's own success in ``expert``), the label-trained eyes
(``eyes``, their frames in ``eyes_frames``) and the state agent acting on the eyes and on noise
(``state_on_eyes``). They run as the steps' do: ``python -m pixelpush_lib.experiments NAME``."""
