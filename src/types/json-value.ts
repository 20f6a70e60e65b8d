/** JSON values: what `data` and `metadata` may be given as, for convenience. */
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
