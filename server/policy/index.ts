export { evaluate } from './evaluate';
export { type Rule, type RuleInput, type ToolFacts, type Verdict, ZRule } from './types';
