//! `reconcile`: placeholder until its issue lands.
