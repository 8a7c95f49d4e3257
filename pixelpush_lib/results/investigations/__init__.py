"""What the book's Investigations state, read from ``data/`` without torch or the simulator: the imitation students
(``students``), the label-trained eyes and the state agent on them (``eyes``), the eyes-first runs' prediction
(``prediction``) and the loss signature of this project's own runs (``loss_signature``)."""
