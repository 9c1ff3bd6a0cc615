export {
  type Agent,
  type AgentListing,
  type AuthenticateAgentOptions,
  authenticateAgent,
  type CreateAgentOptions,
  createAgent,
  listAgents,
  type RevokeAgentOptions,
  revokeAgent,
} from './agents';
export {
  type ApiToken,
  authenticateApiToken,
  type CreateApiTokenOptions,
  createApiToken,
  listApiTokens,
  type RevokeApiTokenOptions,
  revokeApiToken,
} from './api-tokens';
export type { DatabaseOrExecutor } from './executor';
export {
  type AuthOptionsConfig,
  type AuthSecretOptions,
  authOptions,
  authorizeOidcSignIn,
  authSecret,
  OIDC_PROVIDER_ID,
  SESSION_MAX_AGE_SECONDS,
} from './next-auth';
export { can, type Permission, permissions, type Role, rolePermissions } from './permissions';
export {
  authenticateRequest,
  requirePermission,
  SECURE_SESSION_COOKIE,
  SESSION_COOKIE,
  type SessionUser,
} from './session';
export {
  type AuthenticatePasswordOptions,
  authenticatePassword,
  type CreateUserOptions,
  createUser,
  findUserByEmail,
  findUserById,
  listUsers,
  type ResetPasswordOptions,
  resetPassword,
  type SetUserDisabledOptions,
  type SetUserRoleOptions,
  type SignInClient,
  type SignInFailure,
  setUserDisabled,
  setUserRole,
  type User,
} from './users';
export { type UserRef, ZEmail, ZRole } from './validation';
