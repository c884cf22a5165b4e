//! `authz`: placeholder until its issue lands.
