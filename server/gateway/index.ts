export type { AgentIdentity, GatewayContext } from './context';
export { Gateway, type GatewayOptions } from './gateway';
export { HoldRegistry } from './holds';
