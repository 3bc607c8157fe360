// Placeholder replaced below once the PostgreSQL harness lands.
export default function setup() {}
