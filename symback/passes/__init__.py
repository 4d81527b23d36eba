"""Graph passes: algebraic simplification (applied as nodes are built), CSE and DCE."""
