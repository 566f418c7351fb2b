// The key forms and the admin key check live in access/credentials.ts; who a
// request is (admin key or API key) is decided by access/access.ts.
export { isAdmin, presentedKeys, safeEqual } from '../access/credentials.js';
