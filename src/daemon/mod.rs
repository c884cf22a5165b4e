//! `daemon`: placeholder until its issue lands.
