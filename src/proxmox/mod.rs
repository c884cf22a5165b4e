//! `proxmox`: placeholder until its issue lands.
